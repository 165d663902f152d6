// What went wrong with a remote cache: always a warning for the build (the step runs), never a
// failure, so one error type with a message naming the cache, the blob or the file is enough.
#if canImport(Glibc)
import Glibc
#endif

public struct CacheError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }

    /// A failed system call on `path`, with errno's text.
    static func io(_ operation: String, _ path: String) -> CacheError {
        CacheError("\(path): \(operation) failed: \(String(cString: strerror(errno)))")
    }
}
