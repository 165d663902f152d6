// Errors of the Dockerfile front end, always with the file and the position they refer to.

/// A Dockerfile error with file, line and column: `Dockerfile:3:5: unknown flag: --foo`.
public struct DockerfileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var position: SourcePosition
    /// The last line of the instruction the error is about (equal to `position.line` when unknown).
    public var endLine: Int
    public var message: String

    public init(file: String, position: SourcePosition, endLine: Int? = nil, message: String) {
        self.file = file; self.position = position; self.endLine = endLine ?? position.line
        self.message = message
    }

    public var description: String { "\(file):\(position.line):\(position.column): \(message)" }
}

/// An error raised below the level that knows positions; the caller attaches one.
struct LocalError: Error {
    var message: String
    /// Offset into the logical line, when the failing part is known.
    var offset: Int?
    init(_ message: String, offset: Int? = nil) { self.message = message; self.offset = offset }
}
