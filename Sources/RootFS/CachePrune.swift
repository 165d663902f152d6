// The cache directory's housekeeping (`gvmc prune`): what a build leaves there and how it is
// removed without pulling the ground from under a running build.
//
//   steps[-userns-*]/<key>      step layers          build cache (always pruned)
//   rootfs[-userns-*]/<id>      unpacked base images build cache (always pruned)
//   blobs/sha256/<hex>          downloaded blobs     only with --all
//   run-cache/                  RUN --mount=type=cache directories, only with --all
//
// Every build (and convert) holds `locks/in-use` shared while it runs; prune takes it exclusive,
// so it waits for running builds and no build starts while it deletes. Last use is the mtime of a
// marker `<entry>.used` touched whenever a build stacks a layer or mounts an image tree (else the
// entry's ctime, which its rename into the cache set); blobs are touched when read.
import CSystem
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

public enum CacheUse {
    static let held = Mutex<Set<String>>([])

    /// Holds the cache's in-use lock shared until the process exits (the descriptor is never
    /// closed). Best effort: a cache directory that cannot be created is reported by its users.
    public static func holdShared(_ cacheDirectory: String) {
        guard held.withLock({ $0.insert(cacheDirectory).inserted }) else { return }
        guard makePath(cacheDirectory + "/locks") else { return }
        let fd = open(cacheDirectory + "/locks/in-use", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { return }
        while flock(fd, LOCK_SH) != 0 && errno == EINTR {}
    }

    /// Records a use of a cache entry (`entry.used`'s mtime).
    public static func touch(_ entry: String) {
        let marker = entry + ".used"
        if utimensat(AT_FDCWD, marker, nil, 0) != 0 {
            let fd = open(marker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
            if fd >= 0 { close(fd) }
        }
    }
}

public struct PruneOptions: Sendable {
    /// Also downloaded blobs and RUN cache mounts.
    public var all = false
    /// Only entries unused for at least this many seconds.
    public var unusedFor: Int64?
    /// Keep the most recently used entries up to this many bytes.
    public var keepBytes: Int64?
    public var dryRun = false
    public init() {}
}

public struct PrunedEntry: Sendable {
    /// Relative to the cache directory.
    public var path: String
    public var bytes: Int64
    public var lastUsed: Int64
    /// lastUsed in nanoseconds (the order of uses within a second).
    var usedNanoseconds: Int64 = 0
}

public enum CachePrune {
    /// Removes what the options select (least recently used first); returns it.
    public static func prune(_ cache: String, _ options: PruneOptions, now: Int64 = Int64(time(nil)),
                             waiting: () -> Void = {}) throws(RootFSError) -> [PrunedEntry] {
        guard isDirectory(cache) else { return [] }
        guard makePath(cache + "/locks") else { throw .errno("mkdir", cache + "/locks") }
        let fd = open(cache + "/locks/in-use", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno("open", cache + "/locks/in-use") }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            waiting()
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else { throw .errno("flock", cache + "/locks/in-use") }
            }
        }
        // Leftovers of killed builds (no build runs now): scratch directories and partial trees.
        if !options.dryRun {
            for area in areas(cache, all: true) {
                for name in listDirectory(cache + "/" + area) ?? [] where name.hasPrefix(".build-") || name.contains(".partial-") {
                    TreeCopy.remove(cache + "/" + area + "/" + name)
                }
            }
        }
        var entries = candidates(cache, all: options.all)
        entries.sort { ($0.usedNanoseconds, $0.path) > ($1.usedNanoseconds, $1.path) }   // most recent first
        // The most recently used entries are kept while they fit in keepBytes; everything used
        // less recently than the first that does not fit goes.
        var kept: Int64 = 0
        var full = false
        var removed: [PrunedEntry] = []
        for e in entries {
            let oldEnough = options.unusedFor.map { now - e.lastUsed >= $0 } ?? true
            if !oldEnough { continue }
            if let keep = options.keepBytes, !full {
                if kept + e.bytes <= keep {
                    kept += e.bytes
                    continue
                }
                full = true
            }
            removed.append(e)
        }
        if !options.dryRun {
            for e in removed {
                TreeCopy.remove(cache + "/" + e.path)
                unlink(cache + "/" + e.path + ".used")
            }
        }
        return removed.sorted { ($0.usedNanoseconds, $0.path) < ($1.usedNanoseconds, $1.path) }
    }

    /// The directories of the cache that hold entries.
    static func areas(_ cache: String, all: Bool) -> [String] {
        var out: [String] = []
        for name in (listDirectory(cache) ?? []).sorted() {
            if name == "steps" || name.hasPrefix("steps-") || name == "rootfs" || name.hasPrefix("rootfs-") { out.append(name) }
        }
        if all {
            if isDirectory(cache + "/blobs/sha256") { out.append("blobs/sha256") }
            if isDirectory(cache + "/run-cache") { out.append("run-cache") }
        }
        return out
    }

    static func candidates(_ cache: String, all: Bool) -> [PrunedEntry] {
        var out: [PrunedEntry] = []
        for area in areas(cache, all: all) {
            for name in listDirectory(cache + "/" + area) ?? [] {
                if name.hasSuffix(".used") || name.hasSuffix(".lock") || name.hasPrefix(".build-") || name.contains(".partial-") || name == "empty" { continue }
                let path = cache + "/" + area + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
                var used = ns(st.st_ctim)
                if area.hasPrefix("blobs") { used = max(ns(st.st_mtim), ns(st.st_atim)) }
                var marker = stat()
                if lstat(path + ".used", &marker) == 0 { used = area.hasPrefix("blobs") ? max(used, ns(marker.st_mtim)) : ns(marker.st_mtim) }
                var seen = Set<[UInt64]>()
                out.append(PrunedEntry(path: area + "/" + name, bytes: diskUsage(path, &seen), lastUsed: used / 1_000_000_000, usedNanoseconds: used))
            }
        }
        return out
    }

    /// Allocated bytes under `path` (hardlinks counted once), as du does.
    static func diskUsage(_ path: String, _ seen: inout Set<[UInt64]>) -> Int64 {
        var st = stat()
        guard lstat(path, &st) == 0 else { return 0 }
        if st.st_nlink > 1 && st.st_mode & S_IFMT != S_IFDIR {
            guard seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { return 0 }
        }
        var total = Int64(st.st_blocks) * 512
        if st.st_mode & S_IFMT == S_IFDIR {
            for name in listDirectory(path) ?? [] { total += diskUsage(path + "/" + name, &seen) }
        }
        return total
    }

    /// A Go-style duration ("90m", "24h", "1h30m", "2d" for days too) in seconds.
    public static func parseDuration(_ text: String) -> Int64? {
        var total: Int64 = 0
        var number = ""
        var any = false
        for c in text {
            if c.isNumber { number.append(c); continue }
            let unit: Int64
            switch c {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86400
            default: return nil
            }
            guard let n = Int64(number) else { return nil }
            total += n * unit
            number = ""
            any = true
        }
        return any && number.isEmpty ? total : nil
    }
}
