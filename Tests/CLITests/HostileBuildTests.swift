// Attacks on `gvmc build` by a hostile Dockerfile or base image (issue 14), each run for real:
// the gvmc binary, images made at test time, the host checked afterwards.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `make test` runs the attack suite again against the release binary (`GVMC_TEST_BINARY`); on a
/// machine where the suite cannot run, that run would pass with every test skipped. This fails it.
@Suite(
    .enabled(
        if: ProcessInfo.processInfo.environment["GVMC_TEST_BINARY"].map { !$0.isEmpty } ?? false,
        "runs only when GVMC_TEST_BINARY names a binary to attack"))
struct HostileBuildPreconditions {
    @Test func theAttackSuiteRunsAgainstTheGivenBinary() {
        let binary = ProcessInfo.processInfo.environment["GVMC_TEST_BINARY"] ?? ""
        #expect(
            BuildFixture.canRun,
            "GVMC_TEST_BINARY=\(binary) asks for the attack suite, but it would be skipped here: it needs root, /dev/loop-control and busybox (apt-get install busybox-static)"
        )
        #expect(access(binary, X_OK) == 0, "GVMC_TEST_BINARY=\(binary) is not an executable file")
    }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, mounts) and busybox"))
struct HostileBuild {
    /// COPY/ADD/COPY --link <<NAME: the name is a file name in the destination; `../` in it
    /// reached the host (the file there was removed and replaced by the heredoc).
    @Test func heredocNamesCannotReachTheHost() throws {
        let ctx = try BuildFixture.context("")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let victim = "/tmp/gvmc-heredoc-victim-\(getpid())"
        defer { unlink(victim) }
        let up = String(repeating: "../", count: 16)
        for instruction in ["COPY", "ADD", "COPY --link"] {
            write(victim, "host file\n")
            let r = GVMCBinary.run(
                ["build", "-f", "-", "-o", ctx + "/out.gvmi", "--cache-dir", ctx + "/cache", ctx],
                stdin: "FROM scratch\n\(instruction) <<\(up)\(victim.dropFirst()) /dst/\nowned\n\(up)\(victim.dropFirst())\n")
            #expect(
                r.status == 1 && r.err.contains("<stdin>:2:") && r.err.contains("a heredoc's name is the name of the file it becomes"),
                "\(instruction): \(r.err)")
            #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == "host file\n", "\(instruction): the host file is untouched")
            #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
        }
        let plain = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/ok.gvmi", ctx], stdin: "FROM scratch\nCOPY <<notes.txt /dst/\nfine\nnotes.txt\n")
        #expect(plain.status == 0, "\(plain.err)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/ok.gvmi", "dst/notes.txt"]).output == "fine\n")
    }

    /// USER/--chown names come from the image's /etc/passwd as a process in the image sees it: a
    /// symlink to /etc/passwd is the image's own (a loop), not the host's accounts; a FIFO or a
    /// device is refused instead of read (a FIFO blocked the build forever).
    @Test func imageAccountFilesAreReadInsideTheImage() throws {
        let ctx = try BuildFixture.context("")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        try FileManager.default.createDirectory(atPath: ctx + "/etc", withIntermediateDirectories: true)
        symlink("/etc/passwd", ctx + "/etc/passwd")
        write(ctx + "/f", "x")
        let r = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: "FROM scratch\nCOPY etc/ /etc/\nCOPY --chown=nobody f /f\n")
        #expect(
            r.status == 1 && r.err.contains("<stdin>:3:1: ")
                && r.err.contains("/etc/passwd in the image: Too many levels of symbolic links"),
            "the host's nobody must not be found: \(r.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
        // A FIFO as /etc/group, a device (/dev/null's numbers) as /etc/passwd.
        for (file, kind) in [("group", "a FIFO"), ("passwd", "a character device")] {
            unlink(ctx + "/etc/passwd")
            unlink(ctx + "/etc/group")
            if kind == "a FIFO" { mkfifo(ctx + "/etc/" + file, 0o644) } else { mknod(ctx + "/etc/" + file, S_IFCHR | 0o644, makedev(1, 3)) }
            let dockerfile = ctx + "/Dockerfile.\(file)"
            write(dockerfile, "FROM scratch\nCOPY etc/ /etc/\nCOPY --chown=1:1 f /f\n")
            let t = Tools.run(["timeout", "20", GVMCBinary.path, "build", "-f", dockerfile, "-o", ctx + "/out.gvmi", ctx])
            #expect(
                t.status == 1 && t.output.contains("Dockerfile.\(file):3:1: ")
                    && t.output.contains("/etc/\(file) in the image is \(kind), not a regular file"),
                "\(file): \(t.status) \(t.output)")
        }
    }

    /// RUN --network=host needs `--allow network.host` (BuildKit's entitlement); it overrode
    /// `--network none` silently.
    @Test func hostNetworkNeedsTheEntitlement() throws {
        let ctx = try BuildFixture.context("")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let dockerfile =
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN --network=host [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox cat /proc/net/dev > /netdev\"]\n"
        let refused = GVMCBinary.run(["build", "--network", "none", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: dockerfile)
        #expect(refused.status == 1 && refused.err.contains("<stdin>:3:5: network.host is not allowed"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
        #expect(!refused.err.contains("] COPY busybox"), "nothing runs before the check")
        let allowed = GVMCBinary.run(
            ["build", "--network", "none", "--allow", "network.host", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: dockerfile)
        #expect(allowed.status == 0, "\(allowed.err)")
        let interfaces = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").count
        #expect(
            Tools.run(["unsquashfs", "-cat", ctx + "/out.gvmi", "netdev"]).output.split(separator: "\n").count == interfaces,
            "the host's interfaces")
        let bad = GVMCBinary.run(["build", "--allow", "network.everything", "-f", "-", "-o", ctx + "/x.gvmi", ctx], stdin: dockerfile)
        #expect(bad.status != 0 && bad.err.contains("--allow network.everything: unknown entitlement network.everything"), "\(bad.err)")
        // RUN --security=insecure (a privileged step in BuildKit) needs its entitlement too; with
        // it, the step still runs confined.
        let insecure =
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN --security=insecure [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox grep CapBnd /proc/self/status > /caps\"]\n"
        let notAllowed = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: insecure)
        #expect(notAllowed.status == 1 && notAllowed.err.contains("<stdin>:3:5: security.insecure is not allowed"), "\(notAllowed.err)")
        let confined = GVMCBinary.run(["build", "--allow", "security.insecure", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: insecure)
        #expect(confined.status == 0, "\(confined.err)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/out.gvmi", "caps"]).output.contains("00000000a80425fb"))
    }

    /// The cache's unpacked images and step layers keep setuid-root programs: another user of
    /// the host must not reach them (the cache's top directories are 0700; wider ones are
    /// tightened, with a warning, once).
    @Test func otherUsersCannotReachCachedSetuidPrograms() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)  // only the cache's own modes may keep other users out
        let layer = scratch.sub("base.tar.gz")
        HostileImage.tar(
            layer,
            """
            add("bin", type=tarfile.DIRTYPE, mode=0o755)
            add("bin/busybox", busybox, mode=0o755)
            add("bin/sh", type=tarfile.SYMTYPE, link="busybox")
            add("bin/setuid-tool", busybox, mode=0o4755)
            """)
        let image = HostileImage.layout(scratch.sub("layout"), tag: "suid", layers: [layer])
        let ctx = scratch.sub("ctx")
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        let cache = scratch.sub("cache")
        func build() -> (status: Int32, out: String, err: String) {
            GVMCBinary.run(
                ["build", "-f", "-", "-o", scratch.sub("out.gvmi"), "--cache-dir", cache, ctx],
                stdin: "FROM \(image)\nRUN cp /bin/busybox /bin/step-setuid && chmod 4755 /bin/step-setuid\n")
        }
        let r = build()
        #expect(r.status == 0, "\(r.err)")
        let trees = (try? FileManager.default.contentsOfDirectory(atPath: cache + "/rootfs"))?.filter { !$0.hasSuffix(".used") } ?? []
        let layers =
            (try? FileManager.default.contentsOfDirectory(atPath: cache + "/steps"))?.filter {
                !$0.hasSuffix(".used") && !$0.hasPrefix(".")
            } ?? []
        #expect(trees.count == 1 && layers.count == 1, "\(trees) \(layers)")
        let targets = trees.map { cache + "/rootfs/\($0)/bin/setuid-tool" } + layers.map { cache + "/steps/\($0)/bin/step-setuid" }
        for path in targets {
            var st = stat()
            #expect(lstat(path, &st) == 0 && st.st_mode & 0o4000 != 0 && st.st_uid == 0, "\(path) is a setuid-root file")
            // runuser (util-linux) says why exec failed; the busybox there would run as the applet.
            let asNobody = Tools.run(["runuser", "-u", "nobody", "--", path, "true"])
            #expect(asNobody.status != 0 && asNobody.output.contains("Permission denied"), "nobody ran \(path): \(asNobody.output)")
        }
        for top in ["rootfs", "steps", "run-cache"] where FileManager.default.fileExists(atPath: cache + "/" + top) {
            var st = stat()
            #expect(lstat(cache + "/" + top, &st) == 0 && st.st_mode & 0o777 == 0o700, "\(top)")
        }
        // A cache made by an older gvmc: tightened and said so, once.
        chmod(cache + "/steps", 0o755)
        chmod(cache + "/rootfs", 0o755)
        let again = build()
        #expect(
            again.status == 0 && again.err.contains("warning: cache: \(cache)/steps was open to other users (mode 755); it is now 0700"),
            "\(again.err)")
        #expect(again.err.contains("\(cache)/rootfs was open to other users"), "\(again.err)")
        let third = build()
        #expect(third.status == 0 && !third.err.contains("open to other users"), "\(third.err)")
    }

    /// A layer of a few hundred bytes holding a GNU sparse file of 2 GiB: its holes stay holes in
    /// the cache (2 GiB of zeros were written); the image keeps the file's size.
    @Test func sparseFilesInLayersStaySparseInTheCache() throws {
        let scratch = Scratch()
        let src = scratch.sub("src")
        try FileManager.default.createDirectory(atPath: src, withIntermediateDirectories: true)
        #expect(Tools.run(["truncate", "-s", "2G", src + "/big"]).status == 0)
        #expect(Tools.run(["sh", "-c", "printf tail >> \(src)/big"]).status == 0)
        #expect(Tools.run(["tar", "--sparse", "--format=gnu", "-czf", scratch.sub("sparse.tar.gz"), "-C", src, "big"]).status == 0)
        let size = (try FileManager.default.attributesOfItem(atPath: scratch.sub("sparse.tar.gz"))[.size] as? Int) ?? 0
        #expect(size < 1000, "a \(size)-byte layer")
        let image = HostileImage.layout(scratch.sub("layout"), tag: "sparse", layers: [scratch.sub("sparse.tar.gz")])
        let ctx = try BuildFixture.context("")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let out = scratch.sub("out.gvmi")
        let r = GVMCBinary.run(
            ["build", "-f", "-", "-o", out, "--cache-dir", scratch.sub("cache"), ctx], stdin: "FROM \(image)\nCOPY <<note /\nx\nnote\n")
        #expect(r.status == 0, "\(r.err)")
        let trees =
            (try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("cache/rootfs")))?.filter { !$0.hasSuffix(".used") } ?? []
        var st = stat()
        #expect(trees.count == 1 && lstat(scratch.sub("cache/rootfs/\(trees.first ?? "?")/big"), &st) == 0)
        #expect(st.st_size == (2 << 30) + 4 && st.st_blocks * 512 < 1 << 20, "\(st.st_blocks * 512) bytes allocated")
        #expect(Tools.run(["unsquashfs", "-lls", out]).output.contains(" \((2 << 30) + 4) "), "the image keeps the size")
        // COPY --from the image copies it into a step layer of the cache: holes stay holes there too.
        let copied = GVMCBinary.run(
            ["build", "-f", "-", "-o", out, "--cache-dir", scratch.sub("cache"), ctx],
            stdin: "FROM \(image) AS sparse\nFROM scratch\nCOPY --from=sparse /big /copied\n")
        #expect(copied.status == 0, "\(copied.err)")
        let layers =
            (try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("cache/steps")))?.filter {
                !$0.hasPrefix(".") && !$0.hasSuffix(".used")
            } ?? []
        let layer = layers.first { FileManager.default.fileExists(atPath: scratch.sub("cache/steps/\($0)/copied")) } ?? "?"
        var c = stat()
        #expect(
            lstat(scratch.sub("cache/steps/\(layer)/copied"), &c) == 0 && c.st_size == (2 << 30) + 4 && c.st_blocks * 512 < 1 << 20,
            "\(c.st_blocks * 512) bytes allocated by COPY --from")
        #expect(Tools.run(["unsquashfs", "-lls", out]).output.contains(" \((2 << 30) + 4) "), "the copy keeps the size")
    }

    /// Issue 14 item 7: unpacking passed `mkdir` a pointer into a path buffer that had already
    /// been released (it escaped `withUnsafeBufferPointer`), so with long paths in deep trees a
    /// directory got a garbage name or a false error. glibc's malloc perturbation fills freed
    /// memory, so a pointer that escapes reads garbage every time instead of now and then.
    @Test func deepTreesWithLongNamesUnpackUnderTheirOwnNames() throws {
        let scratch = Scratch()
        let layer = scratch.sub("deep.tar.gz")
        // 28 levels of 120-byte names (paths up to 3.4 KB), with a file and a link at each level.
        HostileImage.tar(
            layer,
            """
            add("bin", type=tarfile.DIRTYPE, mode=0o755)
            add("bin/busybox", busybox, mode=0o755)
            path = "deep"
            add(path, type=tarfile.DIRTYPE, mode=0o755)
            for level in range(28):
                path += "/" + ("level%02d-" % level) + "n" * 112
                add(path, type=tarfile.DIRTYPE, mode=0o750)
                add(path + "/file", data=("%d\\n" % level).encode())
                add(path + "/link", type=tarfile.SYMTYPE, link="file")
            """)
        let image = HostileImage.layout(scratch.sub("layout"), tag: "deep", layers: [layer])
        let ctx = scratch.sub("ctx")
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        let out = scratch.sub("out.gvmi")
        let r = GVMCBinary.run(
            ["build", "-f", "-", "-o", out, "--cache-dir", scratch.sub("cache"), ctx],
            stdin: "FROM \(image)\nRUN [\"/bin/busybox\", \"find\", \"/deep\", \"-name\", \"file\", \"-newer\", \"/bin/busybox\"]\n",
            env: ["GLIBC_TUNABLES": "glibc.malloc.perturb=165"])
        #expect(r.status == 0, "\(r.err)")
        // The unpacked tree, in the cache and in the image, has every name and nothing else.
        let trees =
            (try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("cache/rootfs")))?.filter { !$0.hasSuffix(".used") } ?? []
        #expect(trees.count == 1)
        var expected: [String] = ["/deep"]
        var path = "/deep"
        for level in 0..<28 {
            path += "/" + String(format: "level%02d-", level) + String(repeating: "n", count: 112)
            expected += [path, path + "/file", path + "/link"]
        }
        let tree = scratch.sub("cache/rootfs/\(trees.first ?? "?")")
        let found = Tools.run(["find", tree + "/deep"]).output.split(separator: "\n").map { String($0.dropFirst(tree.count)) }
        #expect(found.sorted() == expected.sorted(), "\(Set(found).symmetricDifference(expected).prefix(4))")
        let listed = Set(
            Tools.run(["unsquashfs", "-l", out]).output.split(separator: "\n").map { String($0.dropFirst("squashfs-root".count)) })
        #expect(expected.allSatisfy(listed.contains), "missing from the image: \(expected.filter { !listed.contains($0) }.prefix(2))")
        #expect(Tools.run(["cat", tree + path + "/file"]).output == "27\n")
    }

    /// A gzip bomb (100 MiB of non-zero bytes in a 100 KiB layer) on a 64 MiB filesystem: the
    /// unpacking stops with the layer and entry named while 5% of the filesystem is still free.
    @Test func unpackingLeavesFreeSpaceAndNamesTheLayer() throws {
        let scratch = Scratch()
        let layer = scratch.sub("bomb.tar.gz")
        HostileImage.tar(layer, "add(\"bomb\", b\"A\" * (100 << 20))")
        let image = HostileImage.layout(scratch.sub("layout"), tag: "bomb", layers: [layer])
        let small = scratch.sub("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(Tools.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", small]).status == 0)
        defer { _ = Tools.run(["umount", small]) }
        let ctx = try BuildFixture.context("")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(
            ["build", "-f", "-", "-o", scratch.sub("out.gvmi"), "--cache-dir", small + "/cache", ctx],
            stdin: "FROM \(image)\nCOPY <<note /\nx\nnote\n")
        #expect(
            r.status == 1 && r.err.contains("<stdin>:1:1: FROM") && r.err.contains("layer sha256:")
                && r.err.contains("entry \"bomb\": unpacking stopped"),
            "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("out.gvmi")))
    }

    /// A killed build's directory (and its overlay mount) are collected by the next build; a
    /// running build's directory is left alone.
    @Test func killedBuildsAreCollectedAndRunningOnesAreNot() throws {
        let scratch = Scratch()
        let tmp = scratch.sub("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let ctx = try BuildFixture.context(
            "FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nARG N\nRUN /bin/busybox sleep $N\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func start(_ seconds: Int) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
            p.arguments = [
                "build", "--build-arg", "N=\(seconds)", "-o", scratch.sub("\(seconds).gvmi"), "--cache-dir", scratch.sub("cache"), ctx
            ]
            p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
            FileManager.default.createFile(atPath: scratch.sub("\(seconds).log"), contents: nil)
            p.standardError = FileHandle(forWritingAtPath: scratch.sub("\(seconds).log"))
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        func log(_ seconds: Int) -> String { (try? String(contentsOfFile: scratch.sub("\(seconds).log"), encoding: .utf8)) ?? "" }
        func buildDirectories() -> Set<String> {
            Set(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).filter { $0.hasPrefix("gvmc-build-") })
        }
        func mounted() -> Bool { ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(tmp + "/") }
        func waitFor(_ what: String, _ condition: () -> Bool) -> Bool {
            var ok = condition()
            for _ in 0..<1200 where !ok {  // up to a minute: other suites build at the same time
                usleep(50_000)
                ok = condition()
            }
            #expect(ok, "timed out waiting for \(what)")
            return ok
        }
        let killed = try start(2)
        // Its stage is mounted in the build's own mount namespace (MountNamespace), not here.
        guard waitFor("the first build's directory", { !buildDirectories().isEmpty }) else {
            Issue.record(
                "first build: \(killed.isRunning ? "running" : "exited \(killed.terminationStatus)"): \(log(2)) \(buildDirectories())")
            return
        }
        usleep(300_000)
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        sleep(3)  // the orphaned step ends
        let stale = buildDirectories()
        #expect(stale.count == 1, "a killed build leaves its directory: \(stale)")
        #expect(!mounted(), "the killed build's mounts went with its mount namespace")
        let running = try start(8)
        guard
            waitFor(
                "the next build to collect the killed one's directory", { buildDirectories().count == 1 && buildDirectories() != stale })
        else { return }
        let mine = buildDirectories()
        // A third build while the second runs: the second's directory stays.
        let next = GVMCBinary.run(
            ["build", "--build-arg", "N=0", "-o", scratch.sub("0.gvmi"), "--cache-dir", scratch.sub("cache"), ctx], env: ["TMPDIR": tmp])
        #expect(next.status == 0, "\(next.err)")
        #expect(running.isRunning && buildDirectories() == mine, "the running build's directory is untouched")
        running.waitUntilExit()
        #expect(running.terminationStatus == 0, "the running build was not disturbed")
        #expect(buildDirectories().isEmpty && !mounted(), "nothing is left mounted or on disk")
    }

    /// A killed build's partial output (`.NAME.XXXXXX.tmp` beside it) is removed by the next
    /// build of that output; one a running gvmc still writes (its lock held) is not.
    @Test func staleOutputTemporariesAreCollected() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let stale = ctx + "/.out.gvmi.Ab12Cd.tmp", live = ctx + "/.out.gvmi.Xy34Zw.tmp"
        write(stale, "partial")
        write(live, "being written")
        var old = [timespec(tv_sec: time(nil) - 60, tv_nsec: 0), timespec(tv_sec: time(nil) - 60, tv_nsec: 0)]
        utimensat(AT_FDCWD, stale, &old, 0)
        utimensat(AT_FDCWD, live, &old, 0)
        let holder = open(live, O_RDONLY)
        defer { close(holder) }
        #expect(flock(holder, LOCK_EX) == 0)
        let r = GVMCBinary.run(["build", "-o", ctx + "/out.gvmi", ctx])
        #expect(r.status == 0, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: stale), "the dead writer's temporary is removed")
        #expect(FileManager.default.fileExists(atPath: live), "a live writer's temporary stays")
        unlink(live)
    }
}
