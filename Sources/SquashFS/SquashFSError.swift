// Errors of the squashfs writer and reader, each naming what and where.

/// An error of the squashfs writer or reader, naming what and where.
public enum SquashFSError: Error, Sendable, Equatable, CustomStringConvertible {
    case badOption(String)
    case io(path: String, operation: String, errno: Int32)
    case invalidTree(path: String, reason: String)
    case tooLarge(String)
    case compressionFailed(String)
    case corrupt(offset: Int, reason: String)
    /// An image path that names a FIFO, device, directory or socket: never opened as an image.
    case notRegularFile(path: String, type: String)

    public var description: String {
        switch self {
        case .badOption(let m): return m
        case .io(let path, let op, let e): return "\(path): \(op) failed: \(String(cString: strerror(e)))"
        case .invalidTree(let path, let reason): return "\(path): \(reason)"
        case .tooLarge(let m): return m
        case .compressionFailed(let m): return "compression failed: \(m)"
        case .corrupt(let offset, let reason): return "corrupt squashfs at offset \(offset): \(reason)"
        case .notRegularFile(let path, let type): return "\(path) is \(type), not a regular file"
        }
    }
}

#if canImport(Glibc)
import Glibc
#endif
