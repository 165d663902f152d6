// gvmc build, the cache: the step cache, COPY --link layers, long stages, gvmc prune and the
// collection after each build (tests of the serialized BuildCommand suite).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension BuildCommand {
    /// The step cache: a step whose inputs are unchanged is not run again (its layer is
    /// stacked), and the image is the same bytes; a change re-runs that step and every later one.
    @Test func stepCacheReusesUnchangedStepsOnly() throws {
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            ARG FLAVOR=a
            COPY deps.txt /app/
            RUN cat /proc/sys/kernel/random/uuid > /app/deps-stamp
            COPY . /src/
            RUN cat /proc/sys/kernel/random/uuid > /app/src-stamp && echo $FLAVOR > /app/flavor
            FROM scratch
            COPY --from=1 /app /app
            """, files: ["deps.txt": "flask\n", "main.py": "print(1)\n", "debug.log": "x\n", ".dockerignore": "*.log\n*.gvmi\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let cache = ctx + "/../" + (ctx as NSString).lastPathComponent + "-cache"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        var n = 0
        func build(_ extra: [String] = []) throws -> (cached: [String], ran: [String], image: String) {
            n += 1
            let out = ctx + "/out\(n).gvmi"
            let r = GVMCBinary.run(["build", "--cache-dir", cache, "-o", out] + extra + [ctx])
            try #require(r.status == 0, "\(r.err)")
            let steps = builtSteps(r.err)
            return (steps.filter(\.cached).map(\.id), steps.filter { !$0.cached }.map(\.id), out)
        }
        func cat(_ image: String, _ path: String) -> String { Tools.run(["unsquashfs", "-cat", image, path]).output }
        let all = ["#0.1", "#0.2", "#1.1", "#1.2", "#1.3", "#1.4", "#2.1"]
        let first = try build()
        #expect(first.cached.isEmpty && first.ran == all)
        let again = try build()
        #expect(again.cached == all && again.ran.isEmpty, "\(again)")
        #expect(FileManager.default.contentsEqual(atPath: first.image, andPath: again.image), "a cached build gives the same bytes")
        // An ignored file is not part of the context's content.
        write(ctx + "/debug.log", "changed\n")
        #expect(try build().ran.isEmpty)
        // A changed source re-runs its COPY and what follows, nothing before.
        write(ctx + "/main.py", "print(2)\n")
        let edited = try build()
        #expect(edited.cached == ["#0.1", "#0.2", "#1.1", "#1.2"] && edited.ran == ["#1.3", "#1.4", "#2.1"], "\(edited)")
        #expect(cat(edited.image, "app/deps-stamp") == cat(first.image, "app/deps-stamp"))
        #expect(cat(edited.image, "app/src-stamp") != cat(first.image, "app/src-stamp"))
        // A build argument is in the environment of every RUN after its ARG.
        let flavored = try build(["--build-arg", "FLAVOR=b"])
        #expect(flavored.cached == ["#0.1", "#0.2", "#1.1"] && cat(flavored.image, "app/flavor") == "b\n", "\(flavored)")
        // --no-cache runs everything again.
        let fresh = try build(["--no-cache"])
        #expect(fresh.cached.isEmpty && fresh.ran == all)
        #expect(cat(fresh.image, "app/deps-stamp") != cat(first.image, "app/deps-stamp"))
        let left = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/steps")) ?? []
        #expect(!left.isEmpty && !left.contains { $0.hasPrefix(".") }, "only layers are left in the cache: \(left)")
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(cache))
    }

    /// A stage of more steps than the overlay mount options have room for (about 60 layers at
    /// the cache's path length): with the kernel's layer-by-layer mount API every step is cached
    /// and the tree is whole; without it the steps past the limit run uncached, still correctly.
    @Test func longStagesAreCachedStepByStep() throws {
        let steps = (1...90).map { "WORKDIR /d\($0)" }.joined(separator: "\n")
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            \(steps)
            RUN ls -d /d[0-9]* | wc -l > /count && echo $(cat /proc/sys/kernel/random/uuid) > /stamp
            """, files: [".dockerignore": "*.gvmi\ncache\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func build(_ n: Int) throws -> (cached: Int, ran: Int, image: String) {
            let r = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", ctx + "/\(n).gvmi", ctx])
            try #require(r.status == 0, "\(r.err)")
            let lines = builtSteps(r.err).filter { $0.id.hasPrefix("#1.") }
            return (lines.filter(\.cached).count, lines.filter { !$0.cached }.count, ctx + "/\(n).gvmi")
        }
        let first = try build(1)
        #expect(first.ran == 91 && first.cached == 0)
        #expect(Tools.run(["unsquashfs", "-cat", first.image, "count"]).output == "90\n")
        let second = try build(2)
        let appends = (Tools.run(["uname", "-r"]).output.split(separator: ".").prefix(2).compactMap { Int($0) })
        if appends.count == 2 && (appends[0], appends[1]) >= (6, 8) {
            #expect(second.cached == 91 && second.ran == 0, "\(second)")
            #expect(FileManager.default.contentsEqual(atPath: first.image, andPath: second.image))
        } else {
            #expect(second.cached > 30 && second.cached < 91, "\(second)")
        }
        #expect(Tools.run(["unsquashfs", "-cat", second.image, "count"]).output == "90\n")
    }

    /// `gvmc prune`: least recently used first, `--filter until=`, `--keep-storage`, `--all`,
    /// `--dry-run`; it waits for a build that is using the cache.
    @Test func pruneRemovesLeastRecentlyUsedCacheAndWaitsForBuilds() throws {
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            ARG V
            RUN echo $V > /v && head -c 3000000 /dev/urandom > /big
            RUN --mount=type=cache,target=/c echo $V >> /c/log
            """, files: [".dockerignore": "*.gvmi\ncache\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let cache = ctx + "/cache"
        var lastErr = ""
        func build(_ v: String, keep: String = "off") throws -> [String] {
            // Without the block store: the sizes and counts below are the step layers' alone
            // (the store's pruning is tested with `gvmc pack`).
            let r = GVMCBinary.run(
                ["build", "--no-block-store", "--build-arg", "V=\(v)", "--cache-dir", cache, "-o", ctx + "/\(v).gvmi", ctx],
                env: ["GVMC_CACHE_KEEP_STORAGE": keep])
            try #require(r.status == 0, "\(r.err)")
            lastErr = r.err
            return builtSteps(r.err).filter { $0.id.hasPrefix("#1.") }.map { $0.cached ? "cached" : "ran" }
        }
        func prune(_ flags: [String]) -> (status: Int32, out: String, err: String) {
            GVMCBinary.run(["prune", "--cache-dir", cache] + flags)
        }
        func layers() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/steps")) ?? []).filter { !$0.hasSuffix(".used") })
        }
        #expect(try build("a") == ["ran", "ran"])
        let layersA = layers()
        #expect(try build("b") == ["ran", "ran"])
        let layersB = layers().subtracting(layersA)
        #expect(layersA.count == 4 && layersB.count == 2, "tools' 2 steps and a's 2 RUNs, then b's 2 RUNs: \(layersA) \(layersB)")
        // Everything a's build used was last used two days ago; b's build (all cached) then uses
        // the tools stage's layers again.
        for l in layersA { #expect(Tools.run(["touch", "-d", "2 days ago", cache + "/steps/" + l + ".used"]).status == 0) }
        #expect(try build("b") == ["cached", "cached"])
        let dry = prune(["--dry-run", "--filter", "until=24h"])
        #expect(
            dry.status == 0 && dry.out.contains("Reclaimable: ") && dry.out.contains("in 2 entries") && dry.out.contains("2d ago"),
            "\(dry.out)")
        #expect(layers().count == 6, "a dry run removes nothing")
        #expect(prune(["--filter", "until=72h"]).out.contains("in 0 entries"))
        let old = prune(["--filter", "until=24h"])
        #expect(
            old.status == 0 && old.out.contains("in 2 entries") && layers() == layersB.union(layersA.filter { layers().contains($0) })
                && layers().count == 4,
            "\(old.out) \(layers())")
        // b is still cached; a runs again (tools stage included).
        #expect(try build("b") == ["cached", "cached"])
        #expect(try build("a") == ["ran", "ran"])
        // --keep-storage keeps the most recently used (a's, 3 MB of /big) and removes the rest.
        let kept = prune(["--keep-storage", "4M", "-v"])
        #expect(kept.status == 0 && kept.out.contains("removed steps/"), "\(kept.out)")
        #expect(try build("a") == ["cached", "cached"])
        #expect(try build("b") == ["ran", "ran"])
        // --all: blobs and cache mounts too; without it they stay.
        #expect(FileManager.default.fileExists(atPath: cache + "/run-cache"))
        _ = prune([])
        #expect(layers().isEmpty && !((try? FileManager.default.contentsOfDirectory(atPath: cache + "/run-cache")) ?? []).isEmpty)
        _ = prune(["--all"])
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/run-cache")) ?? []).allSatisfy { $0.hasSuffix(".lock") })
        // The automatic collection after a build (GVMC_CACHE_KEEP_STORAGE, 4 MiB here): a's
        // 3 MB layer fits, the tools stage's busybox (2 MB), used before it, does not.
        #expect(try build("a", keep: "4M") == ["ran", "ran"])
        #expect(
            lastErr.contains("cache: removed 1 entry") && lastErr.contains("least recently used build cache") && layers().count == 3,
            "\(lastErr) \(layers())")
        // b's build redoes busybox's COPY, and then a's layers (less recent) and busybox go, and
        // the record of a.gvmi's hashes (for a push), written before b's layers.
        #expect(try build("b", keep: "4M") == ["ran", "ran"])
        #expect(
            lastErr.contains("cache: removed 4 entries") && lastErr.contains("least recently used build cache") && layers().count == 3,
            "\(lastErr) \(layers())")
        #expect(try build("b") == ["cached", "cached"])
        #expect(try build("a") == ["ran", "ran"])
        #expect(!lastErr.contains("cache: removed"))
        // A prune started while a build runs waits for it; the build completes.
        write(ctx + "/Dockerfile", "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sleep\", \"3\"]\n")
        let running = Process()
        running.executableURL = URL(fileURLWithPath: GVMCBinary.path)
        running.arguments = ["build", "--progress", "quiet", "-o", ctx + "/slow.gvmi", "--cache-dir", cache, ctx]
        running.standardError = FileHandle.nullDevice
        try running.run()
        usleep(1_000_000)
        let started = Date()
        let waited = prune([])
        running.waitUntilExit()
        #expect(running.terminationStatus == 0)
        #expect(
            waited.status == 0 && waited.err.contains("waiting for the gvmc builds using") && Date().timeIntervalSince(started) > 1,
            "\(waited.err)")
        #expect(layers().isEmpty, "the slow build's layers, stored after the prune began waiting, are removed")
        #expect(prune(["--filter", "until=soon"]).status != 0 && prune(["--keep-storage", "lots"]).status != 0)
    }

    /// COPY --link as BuildKit defines it: the files go into a layer of their own, so the
    /// destination is not resolved through the stage's symlinks and directories made on the way
    /// are new (0755, root's); the layer is reused when steps before it change.
    @Test func copyLinkCopiesIntoALayerOfItsOwn() throws {
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            ARG V=1
            RUN mkdir /real /plain && ln -s /real /linkdir && ln -s /real /plainlink && echo $V > /v && mkdir -m 700 /app && chown 5:5 /app
            COPY --link data /linkdir/
            COPY --link data /app/data
            COPY data /plainlink/
            RUN ls /real > /real-list
            """, files: ["data/a": "one\n", ".dockerignore": "*.gvmi\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let cache = ctx + "/cache"
        let first = GVMCBinary.run(["build", "--cache-dir", cache, "-o", ctx + "/1.gvmi", ctx])
        try #require(first.status == 0, "\(first.err)")
        let second = GVMCBinary.run(["build", "--build-arg", "V=2", "--cache-dir", cache, "-o", ctx + "/2.gvmi", ctx])
        try #require(second.status == 0, "\(second.err)")
        let lines = builtSteps(second.err).filter { $0.id.hasPrefix("#1.") }
        #expect(lines.map(\.cached) == [false, true, true, false, false], "\(second.err)")
        let list = Tools.run(["unsquashfs", "-lln", ctx + "/2.gvmi"]).output
        func entry(_ path: String) -> String? {
            list.split(separator: "\n").first { $0.hasSuffix(" squashfs-root" + path) || $0.contains(" squashfs-root" + path + " -> ") }
                .map(String.init)
        }
        #expect(
            entry("/linkdir")?.hasPrefix("drwxr-xr-x 0/0") == true,
            "the symlink is replaced by the layer's directory: \(entry("/linkdir") ?? "-")")
        #expect(entry("/linkdir/a") != nil)
        #expect(entry("/plainlink")?.hasPrefix("lrwxrwxrwx") == true && entry("/real/a") != nil, "without --link the symlink is followed")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/2.gvmi", "real-list"]).output == "a\n")
        #expect(entry("/app")?.hasPrefix("drwxr-xr-x 0/0") == true && entry("/app/data/a") != nil, "\(entry("/app") ?? "-")")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/2.gvmi", "v"]).output == "2\n")
    }
}

extension BuildCommand {
    /// The image store: a rebuild whose tree did not change (every step cached, only a LABEL
    /// added) copies the squashfs of the earlier build instead of writing it, and the image is
    /// byte for byte what a build without any cache makes; prune removes the store's entries.
    @Test func rebuildOfTheSameTreeTakesTheSquashFSFromTheImageStore() throws {
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            COPY app.txt /app/
            RUN echo built > /app/stamp
            """, files: ["app.txt": "app\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let cache = ctx + "-cache", clean = ctx + "-clean"
        defer { try? FileManager.default.removeItem(atPath: cache); try? FileManager.default.removeItem(atPath: clean) }
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        func build(_ out: String, cache: String, _ extra: [String] = []) throws -> String {
            let r = GVMCBinary.run(["build", "--progress", "plain", "--cache-dir", cache, "-o", ctx + "/" + out] + extra + [ctx], env: env)
            try #require(r.status == 0, "\(r.err)")
            return r.err
        }
        #expect(!(try build("one.gvmi", cache: cache)).contains("image store"))
        write(ctx + "/Dockerfile", (try String(contentsOfFile: ctx + "/Dockerfile", encoding: .utf8)) + "\nLABEL rev=2\n")
        #expect(try build("two.gvmi", cache: cache).contains("squashfs of the same tree from the image store"))
        _ = try build("clean.gvmi", cache: clean, ["--no-cache"])
        #expect(sameBytes(ctx + "/two.gvmi", ctx + "/clean.gvmi"), "the same bytes as a build without caches")
        #expect(cat(ctx + "/two.gvmi", "app/stamp") == "built\n")
        // A changed input: the tree differs, the image is written.
        write(ctx + "/app.txt", "app 2\n")
        #expect(!(try build("three.gvmi", cache: cache)).contains("image store"))
        #expect(cat(ctx + "/three.gvmi", "app/app.txt") == "app 2\n")
        let images = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/images")) ?? []
        #expect(images.filter { !$0.hasSuffix(".used") }.count == 2, "\(images)")
        let pruned = GVMCBinary.run(["prune", "--cache-dir", cache])
        #expect(pruned.status == 0, "\(pruned.err)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: cache + "/images")) ?? []).isEmpty)
    }
}

extension BuildCommand {
    /// The image store names a tree by its layers' identity, not only by their keys: a
    /// `--no-cache` build (whose layers stay private where the keys exist) stores nothing, and a
    /// later cached build gets the tree of its own layers.
    @Test func imageStoreNeverServesAnotherRunsTree() throws {
        let ctx = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            RUN cat /proc/sys/kernel/random/uuid > /stamp
            """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let cache = ctx + "-cache"
        defer { try? FileManager.default.removeItem(atPath: cache) }
        func build(_ out: String, _ extra: [String]) throws -> String {
            let r = GVMCBinary.run(["build", "--progress", "plain", "--cache-dir", cache, "-o", ctx + "/" + out] + extra + [ctx])
            try #require(r.status == 0, "\(r.err)")
            return cat(ctx + "/" + out, "stamp")
        }
        let first = try build("gzip.gvmi", ["--compression", "gzip"])
        let rerun = try build("lz4-nocache.gvmi", ["--no-cache", "--compression", "lz4"])
        #expect(rerun != first, "--no-cache ran the step again")
        #expect(try build("lz4.gvmi", ["--compression", "lz4"]) == first, "the cached layers' tree, not the --no-cache run's")
        #expect(try build("lz4-again.gvmi", ["--compression", "lz4"]) == first)
    }
}
