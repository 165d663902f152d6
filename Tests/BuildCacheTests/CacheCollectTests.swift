// The automatic collection after a build, on a cache directory laid out as builds leave it:
// BuildKit's default policies, in its order, each removing exactly what it should.
import BuildCache
import Foundation
import Testing

@Suite struct CacheCollectTests {
    func file(_ path: String, bytes: Int) {
        #expect(
            FileManager.default.createFile(atPath: path, contents: Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 7919 >> 3) })))
    }

    func setTime(_ path: String, _ t: Int64) {
        var times = [timespec(tv_sec: Int(t), tv_nsec: 0), timespec(tv_sec: Int(t), tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, path, &times, 0) == 0, "\(path)")
    }

    @Test func buildKitsDefaultPoliciesInOrder() throws {
        let cache = NSTemporaryDirectory() + "/collect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let now = Int64(time(nil))
        let mib = 1 << 20
        for d in ["steps/k1", "steps/k2", "rootfs/img", "blobs/sha256", "run-cache/m1", "run-cache/m2"] {
            try FileManager.default.createDirectory(atPath: cache + "/" + d, withIntermediateDirectories: true)
        }
        // Layers and an unpacked image, last used (their .used markers) at various times.
        for (entry, age) in [("steps/k1", 10), ("steps/k2", 3600), ("rootfs/img", 70 * 86400)] as [(String, Int64)] {
            file(cache + "/" + entry + "/data", bytes: mib)
            file(cache + "/" + entry + ".used", bytes: 0)
            setTime(cache + "/" + entry + ".used", now - age)
        }
        // Blobs: last use is the file's own time.
        for (blob, age) in [("b1", 100), ("b2", 7200)] as [(String, Int64)] {
            file(cache + "/blobs/sha256/" + blob, bytes: mib)
            setTime(cache + "/blobs/sha256/" + blob, now - age)
        }
        // Cache mounts: one unused for three days, one used now.
        for (mount, age) in [("m1", 3 * 86400), ("m2", 0)] as [(String, Int64)] {
            file(cache + "/run-cache/" + mount + "/x", bytes: 100)
            file(cache + "/run-cache/" + mount + ".used", bytes: 0)
            setTime(cache + "/run-cache/" + mount + ".used", now - age)
        }
        let removed = CachePrune.collect(cache, keepBytes: Int64(2 * mib + mib / 2), now: now)
        let byReason = Dictionary(uniqueKeysWithValues: removed.map { ($0.reason, $0.entries.map(\.path).sorted()) })
        #expect(byReason["RUN cache mounts unused for 48 hours"] == ["run-cache/m1"])
        #expect(byReason["unused for 60 days"] == ["rootfs/img"])
        // k1 and k2 (2 MiB and their directories) fit in 2.5 MiB: the build cache alone is kept.
        #expect(byReason["least recently used build cache"] == nil)
        // With blobs and cache mounts the whole does not: most recent first, m2, k1 and b1
        // fit; k2 and b2, used less recently, go.
        #expect(byReason["least recently used blobs and cache mounts"] == ["blobs/sha256/b2", "steps/k2"], "\(byReason)")
        for gone in ["run-cache/m1", "rootfs/img", "steps/k2", "blobs/sha256/b2", "steps/k2.used"] {
            #expect(!FileManager.default.fileExists(atPath: cache + "/" + gone), "\(gone)")
        }
        for kept in ["run-cache/m2/x", "steps/k1/data", "blobs/sha256/b1"] {
            #expect(FileManager.default.fileExists(atPath: cache + "/" + kept), "\(kept)")
        }
        // Nothing left to do: a second collection removes nothing.
        #expect(CachePrune.collect(cache, keepBytes: Int64(2 * mib + mib / 2), now: now).isEmpty)
    }

    /// A process started and already reaped (its pid is free), or one still running.
    func writer(running: Bool) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sleep")
        p.arguments = [running ? "60" : "0"]
        try p.run()
        if !running { p.waitUntilExit() }
        return p
    }

    /// An image store entry that is a hard link to an existing image frees nothing when removed,
    /// and counts so; once the image is gone, it counts its size.
    @Test func storedImagesCountOnlyWhatRemovingThemFrees() throws {
        let cache = NSTemporaryDirectory() + "/collect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: cache) }
        try FileManager.default.createDirectory(atPath: cache + "/images/e1", withIntermediateDirectories: true)
        file(cache + "/image.gvmi", bytes: 1 << 20)
        #expect(link(cache + "/image.gvmi", cache + "/images/e1/squashfs") == 0)
        file(cache + "/images/e1.used", bytes: 0)
        var dry = PruneOptions()
        dry.dryRun = true
        let linked = try CachePrune.prune(cache, dry)
        #expect(linked.map(\.path) == ["images/e1"] && linked.first?.bytes == 0, "\(linked)")
        #expect(unlink(cache + "/image.gvmi") == 0)
        let alone = try CachePrune.prune(cache, dry)
        #expect((alone.first?.bytes ?? 0) >= 1 << 20, "\(alone)")
        _ = try CachePrune.prune(cache, PruneOptions())
        #expect(!FileManager.default.fileExists(atPath: cache + "/images/e1"))
    }

    @Test func blockStoreTemporaryFilesOfAKilledWriterAreRemovedAndALiveWritersKept() throws {
        let cache = NSTemporaryDirectory() + "/collect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let blocks = cache + "/blocks/"
        try FileManager.default.createDirectory(atPath: blocks, withIntermediateDirectories: true)
        let entry = String(repeating: "ab", count: 32)
        file(blocks + entry, bytes: 4096)
        let dead = try writer(running: false), live = try writer(running: true)
        defer { if live.isRunning { kill(live.processIdentifier, SIGKILL); live.waitUntilExit() } }
        let stale = "\(entry).tmp-\(dead.processIdentifier)-123", writing = "\(entry).tmp-\(live.processIdentifier)-456"
        file(blocks + stale, bytes: 1000)
        file(blocks + writing, bytes: 1000)
        // The collection after a build (room for everything): only the killed writer's file goes.
        _ = CachePrune.collect(cache, keepBytes: 1 << 30)
        #expect(!FileManager.default.fileExists(atPath: blocks + stale))
        #expect(FileManager.default.fileExists(atPath: blocks + writing), "a running writer's file was removed")
        #expect(FileManager.default.fileExists(atPath: blocks + entry))
        // gvmc prune: the same, once the other writer is gone too.
        _ = try CachePrune.prune(cache, PruneOptions())
        #expect(FileManager.default.fileExists(atPath: blocks + writing), "a running writer's file was removed")
        kill(live.processIdentifier, SIGKILL)  // killed as in the middle of a write
        live.waitUntilExit()
        _ = try CachePrune.prune(cache, PruneOptions())
        #expect(try FileManager.default.contentsOfDirectory(atPath: blocks) == [])
    }

    @Test func imagesRunPulledAndTheirInterruptedDownloadsGoWithAllUnlessAPullIsWriting() throws {
        let cache = NSTemporaryDirectory() + "/collect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let images = CacheLayout(cache).golemImages + "/"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        let hash = String(repeating: "c", count: 56), other = String(repeating: "d", count: 56)
        let image = images + hash + ".gvmi"
        let interrupted = images + other + ".gvmi." + other.prefix(16) + ".partial"
        let writing = images + hash + ".gvmi." + hash.prefix(16) + ".partial"
        file(image, bytes: 1 << 20)
        file(interrupted, bytes: 4096)
        file(writing, bytes: 4096)
        // A pull writing its partial file holds its lock (another open file: flock conflicts).
        let pull = open(writing, O_RDWR | O_CLOEXEC)
        #expect(pull >= 0 && flock(pull, LOCK_EX | LOCK_NB) == 0)
        // Build cache only: the pulled images are not build cache.
        _ = try CachePrune.prune(cache, PruneOptions())
        #expect(try FileManager.default.contentsOfDirectory(atPath: images).count == 3)
        var all = PruneOptions()
        all.all = true
        all.dryRun = true
        let listed = try CachePrune.prune(cache, all).map(\.path).sorted()
        #expect(
            listed == ["golem-images/" + hash + ".gvmi", "golem-images/" + (interrupted as NSString).lastPathComponent].sorted(),
            "\(listed)")
        all.dryRun = false
        _ = try CachePrune.prune(cache, all)
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: images) == [(writing as NSString).lastPathComponent],
            "prune --all must remove the pulled image and the interrupted download, and keep the one a pull writes")
        close(pull)
        _ = try CachePrune.prune(cache, all)
        #expect(try FileManager.default.contentsOfDirectory(atPath: images) == [])
    }

    /// `gvmc run` records each use of a pulled image (its access time, set explicitly, so a
    /// noatime mount does not hide it): one pulled long ago but run now is not "unused".
    @Test func aPulledImageRunNowIsNotUnused() throws {
        let cache = NSTemporaryDirectory() + "/collect-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: cache) }
        let images = CacheLayout(cache).golemImages + "/"
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: true)
        let old = images + String(repeating: "a", count: 56) + ".gvmi", run = images + String(repeating: "b", count: 56) + ".gvmi"
        let longAgo = Int64(time(nil)) - 100 * 86400
        for path in [old, run] {
            file(path, bytes: 4096)
            setTime(path, longAgo)
        }
        CacheUse.accessed(run)
        var st = stat()
        #expect(lstat(run, &st) == 0 && Int64(st.st_mtim.tv_sec) == longAgo, "the image's modification time stays")
        var options = PruneOptions()
        options.all = true
        options.unusedFor = 60 * 86400
        let removed = try CachePrune.prune(cache, options).map(\.path)
        #expect(removed == ["golem-images/" + (old as NSString).lastPathComponent], "\(removed)")
        #expect(FileManager.default.fileExists(atPath: run))
    }
}
