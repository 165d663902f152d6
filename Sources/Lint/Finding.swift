// One lint finding, positioned in a file.

/// One lint finding: the rule, its severity, the message and where in which file.
public struct Finding: Sendable, Hashable {
    public var rule: String
    public var severity: Severity
    public var message: String
    public var file: String
    public var line: Int
    public var column: Int
    public var endLine: Int

    public init(rule: String, severity: Severity, message: String, file: String, line: Int, column: Int = 1, endLine: Int? = nil) {
        self.rule = rule; self.severity = severity; self.message = message; self.file = file
        self.line = line; self.column = column; self.endLine = endLine ?? line
    }
}
