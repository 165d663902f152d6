// `.gvmc.yaml`: found upward from the Dockerfile; hadolint's shape —
//   ignored: [GVM001, GVM014]
//   override: {error: [GVM003], warning: [...], info: [...]}
//   failure-threshold: warning        # error | warning | info | none
import Yams
#if canImport(Glibc)
import Glibc
#endif

public struct LintConfig: Sendable {
    public var ignored: Set<String> = []
    public var severity: [String: Severity] = [:]
    public var failureThreshold: Severity?
    public var experimental: Set<String> = []
    public var path: String?

    public init() {}

    /// Reads a config file; errors name the file and the problem.
    public init(path: String, text: String) throws(LintConfigError) {
        self.path = path
        let node: Any?
        do { node = try Yams.load(yaml: text) } catch {
            throw LintConfigError(path: path, message: "not valid YAML: \(error)")
        }
        guard let map = node as? [String: Any] else {
            if node == nil { return }
            throw LintConfigError(path: path, message: "the top level must be a mapping")
        }
        func list(_ v: Any?, _ key: String) throws(LintConfigError) -> [String] {
            guard let v else { return [] }
            if let s = v as? String { return [s] }
            guard let a = v as? [Any] else { throw LintConfigError(path: path, message: "\(key) must be a list of rule ids") }
            return a.map { "\($0)" }
        }
        for (key, value) in map {
            switch key {
            case "ignored", "ignore":
                ignored.formUnion(try list(value, key))
            case "override":
                guard let o = value as? [String: Any] else { throw LintConfigError(path: path, message: "override must map error/warning/info/none to rule lists") }
                for (level, rules) in o {
                    guard let s = Severity(rawValue: level == "style" ? "info" : level) else {
                        throw LintConfigError(path: path, message: "override.\(level): unknown severity (error, warning, info, none)")
                    }
                    for r in try list(rules, "override.\(level)") { severity[r] = s }
                }
            case "failure-threshold", "failure_threshold":
                guard let s = value as? String, let t = Severity(rawValue: s == "style" ? "info" : s) else {
                    throw LintConfigError(path: path, message: "failure-threshold must be error, warning, info or none")
                }
                failureThreshold = t
            case "experimental":
                experimental.formUnion(try list(value, key))
            default:
                throw LintConfigError(path: path, message: "unknown key \"\(key)\" (known: ignored, override, failure-threshold, experimental)")
            }
        }
        for id in ignored.union(severity.keys).union(experimental) where RuleCatalog.byID[id] == nil && id != "syntax" {
            throw LintConfigError(path: path, message: "unknown rule \"\(id)\"")
        }
    }

    /// The nearest `.gvmc.yaml` / `.gvmc.yml` in `directory` or its parents.
    public static func find(from directory: String) -> String? {
        var dir = directory.isEmpty ? "." : directory
        for _ in 0..<64 {
            for name in [".gvmc.yaml", ".gvmc.yml"] {
                let candidate = dir + "/" + name
                if access(candidate, R_OK) == 0 { return candidate }
            }
            var real = [CChar](repeating: 0, count: Int(PATH_MAX))
            guard realpath(dir, &real) != nil else { return nil }
            let resolved = String(decoding: real.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if resolved == "/" { return nil }
            dir = resolved + "/.."
        }
        return nil
    }
}

public struct LintConfigError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    public var description: String { "\(path): \(message)" }
}
