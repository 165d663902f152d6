// The cache directory's housekeeping (`gvmc prune`): what a build leaves there and how it is
// removed without pulling the ground from under a running build.
//
//   steps[-userns-*]/<key>      step layers          build cache (always pruned)
//   rootfs[-userns-*]/<id>      unpacked base images build cache (always pruned)
//   blocks/<hex>                compressed squashfs blocks (BlockStore) build cache (always pruned)
//   hashes/<hex>                image hashes for push (ImageHashStore)  build cache (always pruned)
//   blobs/sha256/<hex>          downloaded blobs     only with --all
//   run-cache/                  RUN --mount=type=cache directories, only with --all
//
// Every build (and convert) holds `locks/in-use` shared while it runs; prune takes it exclusive,
// so it waits for running builds and no build starts while it deletes. Last use is the mtime of a
// marker `<entry>.used` touched whenever a build stacks a layer or mounts an image tree (else the
// entry's ctime, which its rename into the cache set); blobs are touched when read.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// What `gvmc prune` removes from the cache, and how (its selection and lock policy).
public struct PruneOptions: Sendable {
    /// Give up (remove nothing) when builds are using the cache instead of waiting for them.
    public var onlyIfIdle = false
    /// Also downloaded blobs and RUN cache mounts.
    public var all = false
    /// Only RUN cache mounts.
    public var cacheMountsOnly = false
    /// Only entries unused for at least this many seconds.
    public var unusedFor: Int64?
    /// Keep the most recently used entries up to this many bytes.
    public var keepBytes: Int64?
    public var dryRun = false
    public init() {}
}

/// A cache entry that pruning removed (or would remove): its path, size and last use.
public struct PrunedEntry: Sendable {
    /// Relative to the cache directory.
    public var path: String
    public var bytes: Int64
    public var lastUsed: Int64
    /// lastUsed in nanoseconds (the order of uses within a second).
    var usedNanoseconds: Int64 = 0
}

/// Removing cache entries, least recently used first, under the cache's in-use lock.
public enum CachePrune {
    /// Removes what the options select (least recently used first); returns it.
    public static func prune(
        _ cache: String, _ options: PruneOptions, now: Int64 = Int64(time(nil)),
        waiting: () -> Void = {}
    ) throws(PruneError) -> [PrunedEntry] {
        try prune(cache, [options], now: now, waiting: waiting).first ?? []
    }

    /// Several selections applied in order, under one lock and over one listing of the cache
    /// (sizes walked once); returns what each removed. The lock policy (`onlyIfIdle`) and
    /// `dryRun` are the first selection's.
    static func prune(
        _ cache: String, _ passes: [PruneOptions], now: Int64,
        waiting: () -> Void = {}
    ) throws(PruneError) -> [[PrunedEntry]] {
        guard let first = passes.first, isDirectory(cache) else { return passes.map { _ in [] } }
        let layout = CacheLayout(cache)
        guard makePath(layout.locks) else { throw .errno("mkdir", layout.locks) }
        let fd = open(layout.inUseLock, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .errno("open", layout.inUseLock) }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            if first.onlyIfIdle { return passes.map { _ in [] } }
            waiting()
            while flock(fd, LOCK_EX) != 0 {
                guard errno == EINTR else { throw .errno("flock", layout.inUseLock) }
            }
        }
        // Leftovers of killed builds (no build runs now): scratch directories and partial trees;
        // block store entries half written by a process that is gone (an image writer need not
        // hold the lock, so a live one's are kept).
        if !first.dryRun {
            for area in areas(cache, all: true) {
                for name in listDirectory(cache + "/" + area) ?? []
                where name.hasPrefix(".build-") || name.contains(".partial-")
                    || (CacheLayout.isFileArea(area) || area.hasPrefix("images")) && writerIsGone(name, pidAfter: ".tmp-")
                {
                    TreeRemoval.remove(cache + "/" + area + "/" + name)
                }
            }
        }
        var entries = candidates(cache, all: passes.contains { $0.all || $0.cacheMountsOnly })
        entries.sort { ($0.usedNanoseconds, $0.path) > ($1.usedNanoseconds, $1.path) }  // most recent first
        var results: [[PrunedEntry]] = []
        for options in passes {
            let removed = select(
                entries.filter { e in
                    if options.cacheMountsOnly { return e.path.hasPrefix(CacheLayout.runCacheArea + "/") }
                    return options.all || CacheLayout.isBuildCacheArea(String(e.path.prefix { $0 != "/" }))
                }, options, now: now)
            if !first.dryRun {
                for e in removed {
                    if e.path.hasPrefix(CacheLayout.golemImageArea + "/") && e.path.hasSuffix(".partial") {
                        removePartialDownload(cache + "/" + e.path)
                        continue
                    }
                    TreeRemoval.remove(cache + "/" + e.path)
                    unlink(cache + "/" + e.path + ".used")
                }
            }
            let gone = Set(removed.map(\.path))
            entries.removeAll { gone.contains($0.path) }
            results.append(removed.sorted { ($0.usedNanoseconds, $0.path) < ($1.usedNanoseconds, $1.path) })
        }
        return results
    }

    /// Whether the process a scratch file or directory is named after (`.build-<pid>-…`,
    /// `<key>.tmp-<pid>-…`) is gone; false when the name carries no pid or this process's.
    public static func writerIsGone(_ name: String, pidAfter marker: String) -> Bool {
        guard let range = name.range(of: marker), let pid = pid_t(name[range.upperBound...].prefix { $0.isASCII && $0.isNumber }),
            pid > 0, pid != getpid()
        else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    /// Whether another process holds the flock of the file at `path` (a pull writing it).
    static func isLocked(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// Removes an interrupted download of `gvmc run`'s image cache while holding its lock, so a
    /// pull that opens it meanwhile waits, finds the name gone and starts a new file
    /// (GolemRegistry's PartialDownload); one a pull holds now is kept.
    static func removePartialDownload(_ path: String) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        defer { close(fd) }
        var open = stat(), named = stat()
        guard flock(fd, LOCK_EX | LOCK_NB) == 0, fstat(fd, &open) == 0, lstat(path, &named) == 0,
            open.st_dev == named.st_dev, open.st_ino == named.st_ino
        else { return }
        unlink(path)
    }

    /// What one selection removes from entries sorted most recent first: the most recently used
    /// are kept while they fit in keepBytes; everything used less recently than the first that
    /// does not fit goes (only entries unused for `unusedFor`, when given).
    static func select(_ entries: [PrunedEntry], _ options: PruneOptions, now: Int64) -> [PrunedEntry] {
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
        return removed
    }

    /// The directories of the cache that hold entries.
    static func areas(_ cache: String, all: Bool) -> [String] {
        var out: [String] = []
        for name in (listDirectory(cache) ?? []).sorted() {
            if CacheLayout.isBuildCacheArea(name) { out.append(name) }
        }
        if all {
            if isDirectory(CacheLayout(cache).blobs) { out.append(CacheLayout.blobArea) }
            if isDirectory(CacheLayout(cache).runCache) { out.append(CacheLayout.runCacheArea) }
            if isDirectory(CacheLayout(cache).golemImages) { out.append(CacheLayout.golemImageArea) }
        }
        return out
    }

    static func candidates(_ cache: String, all: Bool) -> [PrunedEntry] {
        var out: [PrunedEntry] = []
        for area in areas(cache, all: all) {
            for name in listDirectory(cache + "/" + area) ?? [] {
                if name.hasSuffix(".used") || name.hasSuffix(".lock") || name.hasPrefix(".build-") || name.contains(".partial-")
                    || name == "empty"
                {
                    continue
                }
                if (CacheLayout.isFileArea(area) || area.hasPrefix("images")) && name.contains(".tmp-") { continue }
                // A download a pull is writing now (it holds the file's lock) is not an entry.
                if area == CacheLayout.golemImageArea && name.hasSuffix(".partial") && isLocked(cache + "/" + area + "/" + name) {
                    continue
                }
                let path = cache + "/" + area + "/" + name
                var st = stat()
                guard lstat(path, &st) == 0 else { continue }
                func ns(_ t: timespec) -> Int64 { Int64(t.tv_sec) * 1_000_000_000 + Int64(t.tv_nsec) }
                var used = ns(st.st_ctim)
                if area.hasPrefix("blobs") || area == CacheLayout.golemImageArea || CacheLayout.isFileArea(area) {
                    used = max(ns(st.st_mtim), ns(st.st_atim))
                }
                var marker = stat()
                var bytes: Int64?
                if lstat(path + ".used", &marker) == 0 {
                    used = area.hasPrefix("blobs") ? max(used, ns(marker.st_mtim)) : ns(marker.st_mtim)
                    if marker.st_size > 0, marker.st_size < 64, let text = readSmallFile(path + ".used"), text.hasPrefix("size=") {
                        bytes = Int64(text.dropFirst("size=".count).prefix { $0.isNumber })
                    }
                }
                if area.hasPrefix("images") {
                    // A stored image is a hard link to an image file while that exists: removing
                    // the entry then frees nothing.
                    bytes = (listDirectory(path) ?? []).reduce(Int64(0)) { sum, name in
                        var f = stat()
                        guard lstat(path + "/" + name, &f) == 0, f.st_nlink == 1 else { return sum }
                        return sum + Int64(f.st_blocks) * 512
                    }
                }
                if bytes == nil {
                    var seen = Set<[UInt64]>()
                    bytes = diskUsage(path, &seen)
                    // Layers and trees do not change: their size is kept in the marker (with the
                    // marker's time), so the collection after every build walks each only once.
                    if area.hasPrefix("steps") || area.hasPrefix("rootfs") { CacheUse.recordSize(path, bytes!, lastUsed: used) }
                }
                out.append(PrunedEntry(path: area + "/" + name, bytes: bytes ?? 0, lastUsed: used / 1_000_000_000, usedNanoseconds: used))
            }
        }
        return out
    }

    /// The automatic collection after a build, with BuildKit's default policies in its order:
    /// RUN cache mounts unused for 48 hours; anything unused for 60 days; the build cache (step
    /// layers, unpacked images) down to `keepBytes`, least recently used first; then, if blobs
    /// and cache mounts still take the whole past `keepBytes`, everything the same way.
    /// Skipped while other builds use the cache; the next build to finish does it. Returns what
    /// each policy removed, with its reason; the cache is listed and measured once for all four.
    public static func collect(
        _ cache: String, keepBytes: Int64, now: Int64 = Int64(time(nil))
    ) -> [(reason: String, entries: [PrunedEntry])] {
        CacheUse.releaseShared(cache)
        var mounts = PruneOptions(), old = PruneOptions(), build = PruneOptions(), everything = PruneOptions()
        mounts.onlyIfIdle = true
        mounts.cacheMountsOnly = true; mounts.unusedFor = 48 * 3600
        old.all = true; old.unusedFor = 60 * 86400
        build.keepBytes = keepBytes
        everything.all = true; everything.keepBytes = keepBytes
        let reasons = [
            "RUN cache mounts unused for 48 hours", "unused for 60 days", "least recently used build cache",
            "least recently used blobs and cache mounts"
        ]
        let removed = (try? prune(cache, [mounts, old, build, everything], now: now)) ?? []
        return zip(reasons, removed).filter { !$0.1.isEmpty }.map { (reason: $0.0, entries: $0.1) }
    }

    /// BuildKit's default: 10% of the size of the filesystem holding the cache, 2 GiB when that
    /// is unknown.
    public static func defaultKeepBytes(_ cache: String) -> Int64 {
        var s = statvfs()
        guard statvfs(cache, &s) == 0, s.f_blocks > 0 else { return 2 << 30 }
        return Int64(s.f_blocks) * Int64(s.f_frsize) / 10
    }

    static func readSmallFile(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 64)
        let n = read(fd, &buffer, 64)
        return n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : nil
    }

    /// Allocated bytes under `path` (hardlinks counted once), as du does.
    public static func diskUsage(_ path: String, _ seen: inout Set<[UInt64]>) -> Int64 {
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

/// Storage sizes as docker prints and reads them.
public enum StorageSize {
    /// "10G", "512M", "1.5GB", "1000": bytes (binary multiples, as docker's --keep-storage).
    public static func parse(_ text: String) -> Int64? {
        var t = text.uppercased()
        if t.hasSuffix("IB") { t.removeLast(2) } else if t.hasSuffix("B") { t.removeLast() }
        let units: [Character: Double] = ["K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024]
        var multiplier = 1.0
        if let last = t.last, let m = units[last] { multiplier = m; t.removeLast() }
        guard let n = Double(t), n >= 0 else { return nil }
        return Int64(n * multiplier)
    }

    public static func format(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes), i = 0
        while value >= 1024 && i < units.count - 1 { value /= 1024; i += 1 }
        return i == 0 ? "\(bytes) B" : String(format: "%.1f ", value) + units[i]
    }
}
