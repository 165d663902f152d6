// Builds as root: gvmc re-executes itself in a mount namespace of its own, so the stage overlays
// and RUN mounts it makes never appear in the host's, and vanish with the build however it ends
// (SIGKILL, the OOM killer, an abort): a mount namespace dies with its last process. The build in
// turn dies with the gvmc that started it (a parent-death signal), and each RUN step with the build.
import CSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Re-executes a root build in a mount namespace of its own.
public enum MountNamespace {
    static let environmentKey = "GVMC_MOUNTNS"

    /// This process is the re-executed build (or an unprivileged one, whose user namespace came
    /// with a mount namespace).
    public static var isPrivate: Bool { getenv(environmentKey) != nil || UserNamespace.current != nil }

    /// Runs this very command again in a new mount namespace and waits for it; `.unavailable`
    /// when the kernel refuses one (the build then goes on here, its mounts in the host's
    /// namespace as before).
    public static func reexec(arguments: [String]) -> UserNamespace.Outcome {
        let environment = UserNamespace.environ(adding: ["\(environmentKey)=1"])
        guard var child = UserNamespace.spawnSelf(arguments: arguments, environment: environment, newUser: false) else {
            return .unavailable("cannot create a mount namespace: \(String(cString: strerror(errno)))")
        }
        let e = gvmc_userns_start(&child, 1)
        guard e == 0 else { return .unavailable("cannot re-execute gvmc in a mount namespace: \(String(cString: strerror(e)))") }
        return .exited(UserNamespace.waitForwardingSignals(child.pid))
    }
}
