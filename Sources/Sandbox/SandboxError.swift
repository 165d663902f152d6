// Why a RUN sandbox could not be set up or started, with the errno of the failed call kept.
#if canImport(Glibc)
import Glibc
#endif

/// A sandbox that could not run its command; `description` is the message the user sees.
public struct SandboxError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// The spec cannot be run (relative or missing rootfs, no command, ids the mapping lacks).
        case invalidSpec(String)
        /// Neither root nor a user namespace: RUN cannot make its namespaces.
        case unprivileged(reason: String)
        /// A system call failed: `pipe: Too many open files`.
        case system(operation: String, errno: Int32)
        /// The command could not be started inside the rootfs (the child's reason).
        case startFailed(command: String, rootfs: String, reason: String)
        /// A `RUN --mount` target that cannot be made: its reason, and the errno when a call failed.
        case mountTarget(target: String, reason: String, errno: Int32?)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    /// A failure described by its message alone.
    public init(message: String) { self.kind = .invalidSpec(message) }

    public var message: String {
        switch kind {
        case .invalidSpec(let m): return m
        case .unprivileged(let reason):
            return "RUN needs root or a user namespace (it runs in new mount and PID namespaces), and none could be made: " + reason
        case .system(let op, let e): return "\(op): \(String(cString: strerror(e)))"
        case .startFailed(let command, let rootfs, let reason): return "cannot start \(command) in \(rootfs): " + reason
        case .mountTarget(let target, let reason, let e):
            return "RUN --mount target \(target): \(reason)" + (e.map { ": " + String(cString: strerror($0)) } ?? "")
        }
    }
    public var description: String { message }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        switch kind {
        case .system(_, let e): return e
        case .mountTarget(_, _, let e): return e
        default: return nil
        }
    }
}
