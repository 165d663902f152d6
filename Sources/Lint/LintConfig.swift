// `.gvmc.yaml`: found upward from the Dockerfile; hadolint's shape —
//   ignored: [GVM001, GVM014]
//   override: {error: [GVM003], warning: [...], info: [...]}
//   failure-threshold: warning        # error | warning | info | none
import Yams
#if canImport(Glibc)
import Glibc
#endif

/// A `.gvmc.yaml` lint configuration: rules ignored, severity overrides, failure threshold.
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
        let file: LintConfigFile
        do {
            guard let root = try Yams.compose(yaml: text) else { return }
            guard root.mapping != nil else { throw LintConfigError(path: path, message: "the top level must be a mapping") }
            file = try YAMLDecoder().decode(LintConfigFile.self, from: text)
        } catch let error as LintConfigError {
            throw error
        } catch let DecodingError.dataCorrupted(context) where !context.codingPath.isEmpty {
            throw LintConfigError(path: path, message: context.debugDescription, cause: DecodingError.dataCorrupted(context))
        } catch {
            throw LintConfigError(path: path, message: "not valid YAML: \(error)", cause: error)
        }
        ignored = Set(file.ignored)
        experimental = Set(file.experimental)
        failureThreshold = file.failureThreshold
        for (level, rules) in file.override {
            for r in rules { severity[r] = level }
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

/// `.gvmc.yaml` as written: a rule list is one id or a list of them; `ignore` and
/// `failure_threshold` are accepted for `ignored` and `failure-threshold`; an unknown key is an
/// error, so a misspelt one is not silently dropped.
struct LintConfigFile: Decodable {
    var ignored: [String] = []
    var override: [(Severity, [String])] = []
    var failureThreshold: Severity?
    var experimental: [String] = []

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        func problem(_ key: Key, _ message: String) -> DecodingError {
            .dataCorrupted(.init(codingPath: c.codingPath + [key], debugDescription: message))
        }
        func rules<K>(_ container: KeyedDecodingContainer<K>, _ key: K, _ name: String) throws -> [String] {
            if let one = try? container.decode(String.self, forKey: key) { return [one] }
            guard let list = try? container.decode([String].self, forKey: key) else {
                throw DecodingError.dataCorrupted(.init(codingPath: [key], debugDescription: "\(name) must be a list of rule ids"))
            }
            return list
        }
        func severity(_ text: String) -> Severity? { Severity(rawValue: text == "style" ? "info" : text) }
        for key in c.allKeys {
            switch key.stringValue {
            case "ignored", "ignore":
                ignored += try rules(c, key, key.stringValue)
            case "override":
                guard let levels = try? c.nestedContainer(keyedBy: Key.self, forKey: key) else {
                    throw problem(key, "override must map error/warning/info/none to rule lists")
                }
                for level in levels.allKeys {
                    guard let s = severity(level.stringValue) else {
                        throw problem(level, "override.\(level.stringValue): unknown severity (error, warning, info, none)")
                    }
                    override.append((s, try rules(levels, level, "override.\(level.stringValue)")))
                }
            case "failure-threshold", "failure_threshold":
                guard let text = try? c.decode(String.self, forKey: key), let s = severity(text) else {
                    throw problem(key, "failure-threshold must be error, warning, info or none")
                }
                failureThreshold = s
            case "experimental":
                experimental += try rules(c, key, key.stringValue)
            default:
                throw problem(key, "unknown key \"\(key.stringValue)\" (known: ignored, override, failure-threshold, experimental)")
            }
        }
    }
}

/// A lint configuration file that cannot be read or parsed, naming the file.
public struct LintConfigError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var message: String
    /// The error the message was made from (the YAML parser's, the decoder's, the document's), if any.
    public var cause: (any Error & Sendable)? = nil
    public var description: String { "\(path): \(message)" }
}
