// The lint rules: Golem's GVM001–GVM021 (../shared/GOLEM.md §6) and BuildKit's build checks, with
// what `gvmc lint --explain` prints for each.

/// How serious a finding is (`none` switches a rule off).
public enum Severity: String, Sendable, Comparable, CaseIterable {
    case error, warning, info, none

    var rank: Int {
        switch self {
        case .error: 3;
        case .warning: 2;
        case .info: 1;
        case .none: 0
        }
    }
    public static func < (a: Severity, b: Severity) -> Bool { a.rank < b.rank }
}

/// A lint rule: its id, default severity and what `gvmc lint --explain` prints for it.
public struct Rule: Sendable {
    public var id: String
    public var severity: Severity
    /// One line: what the rule checks.
    public var summary: String
    public var rationale: String
    public var example: String
    public var fix: String
    public var url: String?
    /// Needs the built root filesystem or image (`gvmc lint --image`, build, convert).
    public var needsImage: Bool = false
    /// BuildKit marks it experimental: off unless enabled.
    public var experimental: Bool = false
}

/// Every lint rule, Golem's and BuildKit's, by id.
public enum RuleCatalog {
    public static let all: [Rule] = golem + buildKit
    public static let byID: [String: Rule] = Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0) })
    /// Parse errors are findings too.
    public static let syntax = Rule(
        id: "syntax", severity: .error, summary: "The Dockerfile cannot be parsed",
        rationale: "BuildKit rejects the file; nothing can be built.",
        example: "FROM alpine\nENV ONLYKEY\n", fix: "Fix the syntax error at the reported position.")

    public static func rule(_ id: String) -> Rule { byID[id] ?? (id == "syntax" ? syntax : syntax) }
}
