// The executor's error: what kind of failure, its cause kept (errno, the error of the image,
// git or layer code underneath), and the Dockerfile instruction of the failed step as a field.
import DockerfileSyntax
#if canImport(Glibc)
import Glibc
#endif

/// A failure of a build step or of the executor's file primitives. `description` is the text
/// the user sees: the step's Dockerfile location (when known) in front of the message.
public struct ExecutorError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// A failure the message says all about (a missing source file, a bad mode, ...).
        case failed(String)
        /// A system call on a path failed: `mkdir /x: File exists`.
        case system(operation: String, path: String, errno: Int32)
        /// Reading a file out of an image failed: `/etc/passwd in the image: read: ...`
        /// (`operation` nil when opening it failed).
        case imageFile(path: String, operation: String?, errno: Int32)
        /// Another module's error, kept as is, with what was being done: `ADD URL: <cause>`.
        case wrapped(context: String, cause: any Error)
    }

    public var kind: Kind
    /// The instruction of the step that failed; printed as `FILE:LINE:COL: ` in front.
    public var location: SourceLocation?

    public init(_ kind: Kind, at location: SourceLocation? = nil) { self.kind = kind; self.location = location }
    public init(_ message: String) { self.init(.failed(message)) }
    /// `context: cause`, keeping `cause`.
    public init(_ context: String, cause: any Error) { self.init(.wrapped(context: context, cause: cause)) }

    /// A failed system call on `path`, with the current errno.
    static func errno(_ operation: String, _ path: String) -> ExecutorError {
        ExecutorError(.system(operation: operation, path: path, errno: Glibc.errno))
    }

    /// The message without the location.
    public var message: String {
        switch kind {
        case .failed(let m): return m
        case .system(let op, let path, let e): return "\(op) \(path): \(String(cString: strerror(e)))"
        case .imageFile(let path, let op, let e):
            return "\(path) in the image: " + (op.map { "\($0): " } ?? "") + String(cString: strerror(e))
        case .wrapped(let context, let cause): return "\(context): \(cause)"
        }
    }

    public var description: String { location.map { "\($0): \(message)" } ?? message }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        switch kind {
        case .system(_, _, let e), .imageFile(_, _, let e): return e
        case .failed, .wrapped: return nil
        }
    }

    /// The path a failed system call was about.
    public var path: String? {
        switch kind {
        case .system(_, let p, _), .imageFile(let p, _, _): return p
        case .failed, .wrapped: return nil
        }
    }

    /// The error underneath, when this one wraps another module's.
    public var cause: (any Error)? {
        if case .wrapped(_, let cause) = kind { return cause }
        return nil
    }
}
