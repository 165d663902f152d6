// What can stop `gvmc prune` or the collection after a build: a system call on the cache
// directory, with its errno kept.
#if canImport(Glibc)
import Glibc
#endif

/// A system call on the cache directory failed.
public struct PruneError: Error, Sendable, CustomStringConvertible {
    /// The call (`mkdir`, `open`, `flock`).
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(operation: String, path: String, errno: Int32) {
        self.operation = operation; self.path = path; self.errno = errno
    }

    /// The failure of `operation` on `path` with the current errno.
    static func errno(_ operation: String, _ path: String) -> PruneError {
        PruneError(operation: operation, path: path, errno: Glibc.errno)
    }

    public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
}
