// The build's private directory on the host (`$TMPDIR/gvmc-build-*`, stage roots and mount
// sources inside), its removal on interrupt, and the collection of those left by killed builds.
import BuildCache
import CSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where build directories go: $TMPDIR, else /var/tmp (large, and not a RAM tmpfs).
func temporaryRoot() -> String {
    if let t = getenv("TMPDIR") { return String(cString: t) }
    return "/var/tmp"
}

/// mkdtemp(3) of `template` (ending in XXXXXX); the directory's path, or nil with errno.
/// mkdtemp returns a pointer into the template's buffer: the path is read inside the closure,
/// since the buffer may be freed as soon as the closure returns.
func makeTemporaryDirectory(_ template: String) -> String? {
    var bytes = Array(template.utf8CString)
    return bytes.withUnsafeMutableBufferPointer { b in mkdtemp(b.baseAddress!).map { String(cString: $0) } }
}

/// Build directories in progress, removed on interrupt.
public final class TemporaryDirectories: Sendable {
    public static let shared = TemporaryDirectories()
    private struct State {
        var paths = Set<String>()
        var mountPoints: [String] = []
    }
    private let state = Mutex(State())
    public func add(_ p: String) { state.withLock { _ = $0.paths.insert(p) } }
    public func remove(_ p: String) { state.withLock { _ = $0.paths.remove(p) } }
    public func addMount(_ p: String) { state.withLock { $0.mountPoints.append(p) } }
    func removeMount(_ p: String) { state.withLock { $0.mountPoints.removeAll { $0 == p } } }
    /// Detaches `mounts` (newest first), then removes `directory` (a tree below it on another
    /// device is left alone), and forgets both: the normal end of a directory `add`ed here.
    public func release(mounts: [String], directory: String) {
        for m in mounts.reversed() {
            gvmc_umount_detach(m)
            removeMount(m)
        }
        TreeRemoval.remove(directory)
        remove(directory)
    }

    /// Unmounts the build's overlays, then removes the directories (Ctrl-C, fatal errors).
    public func removeAll() {
        let (all, mounted) = state.withLock { ($0.paths, $0.mountPoints) }
        for m in mounted.reversed() { gvmc_umount_detach(m) }
        for p in all { TreeRemoval.remove(p) }
    }
}

/// A build directory is owned by the process that holds an exclusive flock on its `.owner` file
/// for its whole life; the kernel drops the lock when that process dies, however it dies
/// (SIGKILL, OOM, abort). A directory whose lock can be taken belongs to nobody: the next build
/// unmounts what is left mounted below it and removes it.
enum BuildDirectories {
    static let prefix = "gvmc-build-"
    static let ownerFile = ".owner"

    /// Collects the leftovers of dead builds in the temporary root, then makes this build's
    /// directory (0700) and takes its lock; returns the directory and the lock's descriptor
    /// (held until the build finishes).
    static func create() throws(ExecutorError) -> (path: String, lock: Int32) {
        let base = temporaryRoot()
        collectStale(in: base)
        guard let dir = makeTemporaryDirectory("\(base)/\(prefix)XXXXXX") else {
            throw ExecutorError.errno("create a build directory in", base)
        }
        TemporaryDirectories.shared.add(dir)
        let fd = open(dir + "/" + ownerFile, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let error = ExecutorError.errno("lock", dir + "/" + ownerFile)
            if fd >= 0 { close(fd) }
            TreeRemoval.remove(dir)
            throw error
        }
        return (dir, fd)
    }

    /// Removes `gvmc-build-*` directories of processes that are gone. A directory without an
    /// owner file is left alone unless it is older than a minute (its process may be between
    /// mkdtemp and creating the file; gvmc before this change made none).
    static func collectStale(in base: String) {
        for name in listDirectory(base) ?? [] where name.hasPrefix(prefix) {
            let dir = base + "/" + name
            var st = stat()
            guard lstat(dir, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, st.st_uid == geteuid() else { continue }
            let fd = open(dir + "/" + ownerFile, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
            if fd < 0 {
                guard errno == ENOENT, time(nil) - st.st_mtim.tv_sec > 60 else { continue }
            } else {
                defer { close(fd) }
                guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { continue }  // a running build's
            }
            unmountAll(below: dir)
            TreeRemoval.remove(dir)
        }
    }

    /// Detaches every mount at or below `dir` (deepest first), as a killed build leaves its
    /// stage overlays mounted.
    static func unmountAll(below dir: String) {
        guard let text = readText("/proc/self/mountinfo") else { return }
        var points: [String] = []
        for line in text.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { continue }
            let point = unescapeMountField(String(fields[4]))
            if point == dir || point.hasPrefix(dir + "/") { points.append(point) }
        }
        for p in points.sorted(by: { $0.count > $1.count }) { gvmc_umount_detach(p) }
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo.
    static func unescapeMountField(_ s: String) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count, let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
