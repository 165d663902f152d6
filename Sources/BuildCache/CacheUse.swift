// Uses of the cache: the in-use lock every build holds shared (prune takes it exclusively), and
// the `<entry>.used` markers whose time says when an entry was last used.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The cache's in-use lock and the markers that record when an entry was last used.
public enum CacheUse {
    /// Cache directories this process holds shared, with the lock's descriptor.
    static let held = Mutex<[String: Int32]>([:])

    /// Holds the cache's in-use lock shared until the process exits (the descriptor is never
    /// closed). Best effort: a cache directory that cannot be created is reported by its users.
    public static func holdShared(_ cacheDirectory: String) {
        guard held.withLock({ $0[cacheDirectory] == nil }) else { return }
        let layout = CacheLayout(cacheDirectory)
        guard makePath(layout.locks) else { return }
        let fd = open(layout.inUseLock, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
        held.withLock { $0[cacheDirectory] = fd }
    }

    /// Gives up the shared lock (before this process prunes the cache itself).
    public static func releaseShared(_ cacheDirectory: String) {
        if let fd = held.withLock({ $0.removeValue(forKey: cacheDirectory) }) { close(fd) }
    }

    /// Records a use of a cache entry (`entry.used`'s mtime).
    public static func touch(_ entry: String) {
        let marker = entry + ".used"
        if utimensat(AT_FDCWD, marker, nil, 0) != 0 {
            let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }

    /// Records a use of a file entry that is read where it is (a pulled image): its access time
    /// becomes now, its modification time stays; explicit, so it holds on `noatime` mounts too.
    public static func accessed(_ path: String) {
        // UTIME_NOW and UTIME_OMIT (linux/stat.h), which Glibc's module does not export.
        var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 1), timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    /// A new cache entry: its use, and its size (so that pruning need not walk it again).
    public static func stored(_ entry: String) {
        var seen = Set<[UInt64]>()
        recordSize(entry, CachePrune.diskUsage(entry, &seen), lastUsed: nil)
    }

    /// Writes `size=N` into the entry's marker; its time becomes `lastUsed` (nanoseconds since
    /// the epoch) or now.
    static func recordSize(_ entry: String, _ bytes: Int64, lastUsed: Int64?) {
        let text = "size=\(bytes)\n"
        let marker = entry + ".used"
        let fd = open(marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        _ = text.utf8CString.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count - 1) }
        if let lastUsed {
            let t = timespec(tv_sec: Int(lastUsed / 1_000_000_000), tv_nsec: Int(lastUsed % 1_000_000_000))
            var times = [t, t]
            futimens(fd, &times)
        }
        close(fd)
    }
}
