// Where in which Dockerfile something is: the one place `FILE:LINE:COL` is formatted, for the
// front end's errors and for the errors of the build steps that carry it as a field.

/// A file and a 1-based line and column in it, printed as `Dockerfile:3:5`.
public struct SourceLocation: Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var position: SourcePosition
    public init(file: String, position: SourcePosition) { self.file = file; self.position = position }
    public var line: Int { position.line }
    public var column: Int { position.column }
    public var description: String { "\(file):\(position.line):\(position.column)" }
}
