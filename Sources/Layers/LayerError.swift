// Why a layer could not be read or unpacked, naming the layer and entry, with errno kept.
#if canImport(Glibc)
import Glibc
#endif

/// A layer that cannot be read or unpacked; `description` names the layer or entry and why.
public struct LayerError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// The layer's content is refused (bad digest, escaping or truncated entries, ...).
        case invalid(String)
        /// A system call on `subject` (a layer or an unpacked path) failed: `/etc/x: write failed: ...`.
        case system(subject: String, operation: String, errno: Int32)
        /// The layer file could not be opened.
        case cannotOpen(layer: String, path: String, errno: Int32)
        /// Unpacking would fill the filesystem.
        case noSpace(String)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    /// A refused layer, described by its message.
    public init(_ message: String) { self.kind = .invalid(message) }

    public var message: String {
        switch kind {
        case .invalid(let m), .noSpace(let m): return m
        case .system(let subject, let op, let e): return "\(subject): \(op) failed: \(String(cString: strerror(e)))"
        case .cannotOpen(let layer, let path, let e): return "\(layer): cannot open \(path): \(String(cString: strerror(e)))"
        }
    }
    public var description: String { message }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        switch kind {
        case .system(_, _, let e), .cannotOpen(_, _, let e): return e
        case .invalid, .noSpace: return nil
        }
    }
}
