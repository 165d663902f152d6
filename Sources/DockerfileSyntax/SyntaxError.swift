// Errors of the Dockerfile front end, always with the file and the position they refer to.

/// A Dockerfile error with file, line and column: `Dockerfile:3:5: unknown flag: --foo`.
public struct DockerfileError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var position: SourcePosition
    /// The last line of the instruction the error is about (equal to `position.line` when unknown).
    public var endLine: Int
    public var message: String
    /// The error the message was made from, when there is one (a mount's expansion error, ...);
    /// not part of equality.
    public var cause: (any Error)?

    public init(file: String, position: SourcePosition, endLine: Int? = nil, message: String, cause: (any Error)? = nil) {
        self.file = file; self.position = position; self.endLine = endLine ?? position.line
        self.message = message; self.cause = cause
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.file == b.file && a.position == b.position && a.endLine == b.endLine && a.message == b.message
    }
    public func hash(into h: inout Hasher) { h.combine(file); h.combine(position); h.combine(endLine); h.combine(message) }

    /// The file and position as one value (what `description` prints in front of the message).
    public var location: SourceLocation { SourceLocation(file: file, position: position) }

    public var description: String { "\(location): \(message)" }
}

/// An error raised below the level that knows positions; the caller attaches one.
struct LocalError: Error {
    var message: String
    /// Offset into the logical line, when the failing part is known.
    var offset: Int?
    init(_ message: String, offset: Int? = nil) { self.message = message; self.offset = offset }
}
