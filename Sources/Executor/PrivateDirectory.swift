// The cache's top directories (`rootfs`, `steps`, `run-cache`) hold images and step layers as
// root unpacked them: setuid-root programs and device nodes included. They are 0700, so that no
// other user of the host can reach those files (run a cached setuid binary, open a cached disk
// device); one created wider by an older gvmc is tightened, once, with a warning.
#if canImport(Glibc)
import Glibc
#endif

/// Creates the cache's top directories with mode 0700 (and tightens wider ones).
public enum PrivateDirectory {
    /// Makes `path` a directory of mode 0700 (missing parents 0755, as `mkdir -p`); an existing
    /// one with any group or other permission is set to 0700. Returns the warning to show when it
    /// had to be tightened.
    @discardableResult
    public static func make(_ path: String) throws(ExecutorError) -> String? {
        var current = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (i, component) in components.enumerated() {
            current += "/" + component
            let last = i == components.count - 1
            if mkdir(current, last ? 0o700 : 0o755) != 0 && errno != EEXIST { throw .errno("mkdir", current) }
        }
        var st = stat()
        // lstat: the cache's own directory, not what a symlink there points at.
        guard lstat(path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw ExecutorError("cache: \(path) is not a directory")
        }
        let mode = st.st_mode & 0o7777
        guard mode & 0o077 != 0 else { return nil }
        guard chmod(path, 0o700) == 0 else { throw .errno("chmod 0700", path) }
        return
            "cache: \(path) was open to other users (mode \(String(mode, radix: 8))); it is now 0700, so that the setuid programs and device nodes of cached images cannot be reached by them"
    }
}
