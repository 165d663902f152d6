// What went wrong with a shared cache. Reading one is never fatal (a warning; the step runs);
// an export that fails fails the build unless ignore-error=true, as in BuildKit. A message that
// names the cache, the blob or the file is all either needs.
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a shared cache, naming the cache, blob or file.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The tag holds something that is not a gvmc cache: an export must not replace it.
    public var isForeign = false
    public init(_ message: String, isForeign: Bool = false) { self.message = message; self.isForeign = isForeign }
    public var description: String { message }

    /// A failed system call on `path`, with errno's text.
    /// `sha256:` and 64 lowercase hex digits: the only digests a cache may name (they become
    /// file names in a local layout).
    static func isDigest(_ d: String) -> Bool {
        d.utf8.count == 71 && d.hasPrefix("sha256:")
            && d.utf8.dropFirst(7).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    static func io(_ operation: String, _ path: String) -> CacheError {
        CacheError("\(path): \(operation) failed: \(String(cString: strerror(errno)))")
    }
}
