// Why `gvmc run` could not run an image, each case naming what and where.
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Why `gvmc run` could not run an image.
public enum RunError: Error, Sendable, CustomStringConvertible, Equatable {
    case emptyCommand
    case noEntrypoint
    case entrypointWithCommand
    case notAVolume(String, declared: [String])
    case badBinding(String, reason: String)
    case badVolumePath(String, reason: String)
    case commandNotFound(String, explanation: String)
    case cannotStart(String)
    case image(String)
    /// The image's squashfs could not be read (`unpacking`: for an unprivileged run, which
    /// unpacks it with gvmc's reader); `cause` is the reader's error.
    case imageUnreadable(path: String, unpacking: Bool, cause: SquashFSError)
    case setup(String)
    /// A system call of the run's setup failed; `context` says what and where (`cannot create /x`).
    case system(String, errno: Int32)
    case missingTool(String, package: String, purpose: String)
    case vm(String)

    public var description: String {
        switch self {
        case .emptyCommand: return "empty command"
        case .noEntrypoint: return "--entrypoint: the image has neither ENTRYPOINT nor CMD"
        case .entrypointWithCommand:
            return "--entrypoint runs the image's ENTRYPOINT and CMD as a provider's start-entrypoint does; give no command after it"
        case .notAVolume(let path, let declared):
            let list = declared.isEmpty ? "the image declares no VOLUME" : "the image's volumes: " + declared.joined(separator: ", ")
            return "-v \(path): not a volume of the image (a provider mounts host directories only at VOLUME paths); \(list)"
        case .badBinding(let text, let reason): return "-v \(text): \(reason)"
        case .badVolumePath(let path, let reason): return "the image's VOLUME \(path): \(reason)"
        case .commandNotFound(_, let explanation): return explanation
        case .cannotStart(let m): return m
        case .image(let m): return m
        case .imageUnreadable(let path, let unpacking, let cause):
            return unpacking
                ? "cannot unpack \(path) (unprivileged runs read the image with gvmc's squashfs reader): \(cause)" : "\(path): \(cause)"
        case .setup(let m): return m
        case .system(let context, let e): return "\(context): \(String(cString: strerror(e)))"
        case .missingTool(let tool, let package, let purpose):
            return "\(tool) is missing (\(purpose)); install it: apt-get install \(package)"
        case .vm(let m): return m
        }
    }
}
