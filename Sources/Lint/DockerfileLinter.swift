// `gvmc lint` on a Dockerfile: parse, validate, run BuildKit's checks and Golem's rules, then
// apply suppressions (`# gvmc ignore=...`, `# check=skip=...`) and the configuration.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import ImageSpec

/// What `gvmc lint` checks and how: rules switched off, severities, experimental checks, context.
public struct LintOptions: Sendable {
    /// Rules switched off.
    public var ignored: Set<String> = []
    /// Severity overrides (from config or flags).
    public var severity: [String: Severity] = [:]
    /// Experimental BuildKit checks to run.
    public var experimental: Set<String> = []
    /// The context's .dockerignore, for CopyIgnoredFile.
    public var dockerIgnore: DockerIgnore?
    /// Configurations of base images, by reference as FROM names them ("*" for any external base).
    public var baseConfigs: [String: ImageConfiguration] = [:]
    public init() {}
}

/// Lints a Dockerfile: parse errors, BuildKit's checks and Golem's rules, after suppressions.
public enum DockerfileLinter {
    public static func lint(bytes: [UInt8], path: String, options: LintOptions = LintOptions()) -> [Finding] {
        var findings: [Finding] = []
        let file: Dockerfile
        do {
            file = try DockerfileParser.parse(bytes: bytes, path: path)
        } catch {
            return [
                Finding(
                    rule: "syntax", severity: .error, message: error.message, file: path,
                    line: error.position.line, column: error.position.column, endLine: error.endLine)
            ]
        }
        let staged: StagedDockerfile
        do {
            staged = try StagedDockerfile.parse(file)
        } catch {
            return [
                Finding(
                    rule: "syntax", severity: .error, message: error.message, file: path,
                    line: error.position.line, column: error.position.column, endLine: error.endLine)
            ]
        }
        let checkDirective = CheckDirective(file.directives.first { $0.name == "check" }?.value ?? "")
        func report(_ rule: String, _ node: SyntaxNode, _ message: String, _ subject: String?) {
            let (line, column) = position(of: subject, in: node)
            findings.append(
                Finding(
                    rule: rule, severity: RuleCatalog.rule(rule).severity, message: message, file: path,
                    line: line, column: column, endLine: node.endLine))
        }
        let walker = StageWalker(file: staged, baseConfigs: options.baseConfigs)
        let stages = walker.walk()
        var experimental = options.experimental
        experimental.formUnion(checkDirective.experimental)
        BuildKitChecks(
            file: staged, walker: walker, stages: stages, experimental: experimental,
            isIgnored: options.dockerIgnore.map { ignore in { ignore.excludes($0) } }, report: report
        ).run()
        GolemRules(walker: walker, stages: stages, report: report).run()

        // Suppressions: per-instruction comments, the check directive, then the configuration.
        var commentsByLine: [Int: [String]] = [:]
        for node in file.nodes { commentsByLine[node.startLine] = node.comments }
        let buildKitNames = Set(RuleCatalog.buildKit.map(\.id))
        var result: [Finding] = []
        for var f in findings {
            let comments = commentsByLine[f.line] ?? []
            if Suppression.ignores(comments, rule: f.rule) { continue }
            if checkDirective.skips(f.rule) { continue }
            if options.ignored.contains(f.rule) { continue }
            if buildKitNames.contains(f.rule) && checkDirective.errors { f.severity = .error }
            if let s = options.severity[f.rule] { f.severity = s }
            if f.severity == .none { continue }
            result.append(f)
        }
        return result.sorted { ($0.line, $0.column, $0.rule) < ($1.line, $1.column, $1.rule) }
    }
}

/// Where `subject` (the offending value) starts: found in the instruction's first line when it
/// is there; otherwise the start of the arguments, or the keyword.
func position(of subject: String?, in node: SyntaxNode) -> (Int, Int) {
    guard let subject, !subject.isEmpty else { return (node.startLine, node.position.column) }
    let original = node.original
    // Skip the keyword, then look for the subject as written.
    let searchStart = original.index(original.startIndex, offsetBy: min(original.count, node.keyword.count))
    // Prefer an occurrence that ends at a word boundary (so "/golem" is not found inside "/golem/input").
    var range: Range<String.Index>?
    var from = searchStart
    while let r = original[from...].range(of: subject) {
        if range == nil { range = r }
        if r.upperBound == original.endIndex || " \t\"',]=".contains(original[r.upperBound]) { range = r; break }
        from = original.index(after: r.lowerBound)
    }
    guard let range else {
        return (node.argumentsPosition.line, node.argumentsPosition.column)
    }
    let offset = original.unicodeScalars.distance(from: original.unicodeScalars.startIndex, to: range.lowerBound)
    // The offset is a column only when the logical line is one physical line (a heredoc's body
    // follows the line and is not part of `original`); continuations shift columns.
    guard node.startLine == node.endLine || !node.heredocs.isEmpty else {
        return (node.argumentsPosition.line, node.argumentsPosition.column)
    }
    let leading = node.position.column - 1
    return (node.startLine, leading + offset + 1)
}

/// `# gvmc ignore=GVM001,GVM014` (hadolint's shape) and BuildKit's `# check=skip=Rule,...` right
/// above an instruction.
enum Suppression {
    static func ignores(_ comments: [String], rule: String) -> Bool {
        for c in comments {
            let text = c.trimmingCharacters(in: " \t")
            for prefix in ["gvmc ignore=", "gvmc ignore ="] where text.lowercased().hasPrefix(prefix) {
                let list = text.dropFirst(prefix.count).split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
                if list.contains(rule) || list.contains("all") { return true }
            }
            if text.lowercased().hasPrefix("check=") {
                if CheckDirective(String(text.dropFirst(6))).skips(rule) { return true }
            }
        }
        return false
    }
}

/// BuildKit's `# check=skip=A,B|all;error=true;experimental=C|all`.
struct CheckDirective {
    var skip: Set<String> = []
    var skipAll = false
    var errors = false
    var experimental: Set<String> = []

    init(_ value: String) {
        for part in value.split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: " \t") }
            guard kv.count == 2 else { continue }
            let items = kv[1].split(separator: ",").map { $0.trimmingCharacters(in: " \t") }
            switch kv[0].lowercased() {
            case "skip":
                if items.contains("all") { skipAll = true } else { skip.formUnion(items) }
            case "error": errors = kv[1].lowercased() == "true"
            case "experimental":
                experimental = items.contains("all") ? Set(RuleCatalog.all.filter(\.experimental).map(\.id)) : Set(items)
            default: break
            }
        }
    }

    func skips(_ rule: String) -> Bool { skipAll ? rule != "syntax" : skip.contains(rule) }
}
