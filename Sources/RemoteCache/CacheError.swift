// What went wrong with a shared cache. Reading one is never fatal (a warning; the step runs);
// an export that fails fails the build unless ignore-error=true, as in BuildKit. The cause is
// kept (the registry's error, the errno, the document error) and the message, naming the cache,
// the blob or the file, is derived from it.
import ImageSpec
import Registry
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a shared cache, naming the cache, blob or file.
public struct CacheError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// A failure the message says all about (a bad --cache-from field, a hostile entry, ...).
        case failed(String)
        /// A system call on `path` failed: `/x: mkdir failed: File exists`.
        case system(operation: String, path: String, errno: Int32)
        /// The cache `label`'s registry failed; `cause` is the registry's error.
        case registry(label: String, cause: RegistryError)
        /// A JSON document of the cache does not read: `context: <the document's reason>`.
        case malformed(context: String, cause: ImageSpecError)
        /// A blob whose bytes (`actual` digest, `size`) are not the `expected` ones.
        case digestMismatch(label: String, expected: String, actual: String, size: Int64)
        /// The tag holds something that is not a gvmc cache (its config is not `configMediaType`).
        case foreign(label: String, configMediaType: String)
        /// Another error kept as is, with what was being done (`context: cause`, or the cause alone).
        case wrapped(context: String?, cause: any Error & Sendable)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public init(_ message: String) { self.kind = .failed(message) }
    /// `context: cause`, keeping `cause`.
    public init(_ context: String?, cause: any Error & Sendable) { self.kind = .wrapped(context: context, cause: cause) }

    public var message: String {
        switch kind {
        case .failed(let m): return m
        case .system(let op, let path, let e): return "\(path): \(op) failed: \(String(cString: strerror(e)))"
        case .registry(let label, let cause): return "\(label): \(cause)"
        case .malformed(let context, let cause): return "\(context): \(cause.reason)"
        case .digestMismatch(let label, let expected, let actual, let size):
            return "\(label): blob \(expected) does not match its digest (\(actual), \(size) bytes); not used"
        case .foreign(let label, let type): return "\(label) holds something that is not a gvmc cache (config media type is not \(type))"
        case .wrapped(let context, let cause): return context.map { "\($0): \(cause)" } ?? "\(cause)"
        }
    }
    public var description: String { message }

    /// The tag holds something that is not a gvmc cache: an export must not replace it.
    public var isForeign: Bool {
        if case .foreign = kind { return true }
        return false
    }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        if case .system(_, _, let e) = kind { return e }
        return nil
    }

    /// The error underneath: the registry's, the document's, or the wrapped one.
    public var cause: (any Error & Sendable)? {
        switch kind {
        case .registry(_, let c): return c
        case .malformed(_, let c): return c
        case .wrapped(_, let c): return c
        case .failed, .system, .digestMismatch, .foreign: return nil
        }
    }

    /// `sha256:` and 64 lowercase hex digits: the only digests a cache may name (they become
    /// file names in a local layout).
    static func isDigest(_ d: String) -> Bool {
        d.utf8.count == 71 && d.hasPrefix("sha256:")
            && d.utf8.dropFirst(7).allSatisfy { (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }
    }

    /// A failed system call on `path`, with the current errno.
    static func io(_ operation: String, _ path: String) -> CacheError {
        CacheError(.system(operation: operation, path: path, errno: Glibc.errno))
    }
}
