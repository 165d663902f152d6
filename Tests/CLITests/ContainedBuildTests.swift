// gvmc build against a hostile base image and an unlucky user: a base image whose ONBUILD triggers
// attack the host, and a build killed with SIGKILL in the middle of a RUN step (tests of the
// serialized BuildCommand suite).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension BuildCommand {
    /// `FROM evil` alone runs the image's ONBUILD triggers: one of them is a static program that
    /// tries the chroot escape and then writes a file on the host. It must land inside the stage.
    @Test func aHostileBaseImagesOnbuildTriggersStayInsideTheBuild() throws {
        guard let compiler = EscapeFixture.compiler else {
            Issue.record("skipped: no C compiler with a static libc (clang or cc, libc6-dev) to build the escape program")
            return
        }
        let scratch = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let marker = "/tmp/gvmc-onbuild-escape-\(getpid())"
        defer { unlink(marker) }
        let rootfs = scratch + "/rootfs"
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: rootfs + "/tmp", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: BuildFixture.busybox!, toPath: rootfs + "/bin/busybox")
        symlink("busybox", rootfs + "/bin/sh")
        try EscapeFixture.compileEscape(with: compiler, to: rootfs + "/bin/escape", scratch: scratch)
        try EscapeFixture.makeLayout(scratch + "/oci", tag: "evil", rootfs: rootfs, onBuild: ["RUN [\"/bin/escape\", \"\(marker)\"]"])

        let ctx = try BuildFixture.context("FROM oci-layout://\(scratch)/oci:evil\nRUN [\"/bin/busybox\", \"cat\", \"\(marker)\"]\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(["build", "--progress", "plain", "-o", ctx + "/out.gvmi", ctx])
        #expect(r.status == 0, "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the base image's ONBUILD RUN wrote \(marker) on the host")
        // The escape landed inside the stage (the next step read it there).
        #expect((r.out + r.err).contains("escaped from"), "\(r.out)\(r.err)")

        // A trigger with a heredoc whose name climbs out of the destination: refused, and the
        // host file it names is untouched.
        let victim = "/tmp/gvmc-onbuild-heredoc-\(getpid())"
        write(victim, "host file\n")
        defer { unlink(victim) }
        let up = String(repeating: "../", count: 16) + victim.dropFirst()
        try EscapeFixture.makeLayout(scratch + "/oci2", tag: "evil", rootfs: rootfs, onBuild: ["COPY <<\(up) /dst/\nowned\n\(up)"])
        write(ctx + "/Dockerfile", "FROM oci-layout://\(scratch)/oci2:evil\n")
        let h = GVMCBinary.run(["build", "--progress", "plain", "-o", ctx + "/out2.gvmi", ctx])
        #expect(h.status == 1 && h.err.contains("heredoc"), "\(h.err)")
        #expect((try? String(contentsOfFile: victim, encoding: .utf8)) == "host file\n", "the ONBUILD heredoc replaced a host file")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out2.gvmi"))
    }

    /// A user at a terminal: RUN must not get it (a step holding it could push keystrokes into
    /// the user's shell with TIOCSTI, which runs them after gvmc exits). gvmc runs under
    /// script(1) here, so its own standard streams are a terminal.
    @Test(.enabled(if: Tools.exists("script"), "needs script(1) (util-linux) for a terminal"))
    func aRunStepNeverHoldsTheUsersTerminal() throws {
        let ctx = try BuildFixture.context(
            """
            FROM scratch
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "sh", "-c", "for fd in 0 1 2; do [ -t $fd ] && echo TTY-$fd; done; (echo > /dev/tty) 2>/dev/null && echo DEV-TTY-OPENED-$((40+2)); /bin/busybox readlink /proc/self/fd/0; echo step-ran"]
            """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let command = "env XDG_CACHE_HOME=\(testCacheHome) \(GVMCBinary.path) build --progress plain -o \(ctx)/out.gvmi \(ctx)"
        let r = Tools.run(["script", "-qec", command, "/dev/null"])
        #expect(r.output.contains("step-ran"), "\(r.output)")
        #expect(
            !["TTY-0", "TTY-1", "TTY-2"].contains { r.output.contains($0) },
            "the step's standard streams were the user's terminal: \(r.output)")
        #expect(!r.output.contains("OPENED-42"), "the step could open the user's terminal: \(r.output)")
        #expect(r.output.contains("/dev/null"), "standard input should be /dev/null: \(r.output)")
    }

    /// SIGKILL leaves no cleanup code a chance: the stage's overlay must still go (the build's
    /// mount namespace dies with it) and the RUN step's processes with it (parent-death signals).
    @Test func aKilledBuildLeavesNoMountOrProcessBehind() throws {
        let tag = "9\(getpid() % 10000)\(Int.random(in: 100...999))"
        let ctx = try BuildFixture.context("\(BuildFixture.toolsStage)\nFROM tools\nRUN sleep \(tag)\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let tmp = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let pid = EscapeFixture.spawnGVMC(["build", "--progress", "quiet", "-o", ctx + "/out.gvmi", ctx], tmp: tmp)
        #expect(pid > 0)
        func running() -> Bool { var status: Int32 = 0; return waitpid(pid, &status, WNOHANG) == 0 }
        func stepProcesses() -> [String] { EscapeFixture.processes().filter { $0.contains("sleep \(tag)") } }
        let deadline = Date().addingTimeInterval(60)
        while stepProcesses().isEmpty && Date() < deadline && running() { usleep(50_000) }
        #expect(!stepProcesses().isEmpty, "the RUN step never started")
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        let gone = Date().addingTimeInterval(10)
        while !stepProcesses().isEmpty && Date() < gone { usleep(50_000) }
        let orphans = stepProcesses()
        #expect(orphans.isEmpty, "the RUN step outlived gvmc: \(orphans)")
        if !orphans.isEmpty { _ = Tools.run(["pkill", "-9", "-f", "sleep \(tag)"]) }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        let left = mounts.split(separator: "\n").filter { $0.contains(tmp) || $0.contains(testCacheHome) }
        #expect(left.isEmpty, "mounts left on the host: \(left)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
    }
}

enum EscapeFixture {
    static let compiler: String? = {
        let dirs =
            (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/opt/swift/usr/bin", "/usr/bin"]
        guard FileManager.default.fileExists(atPath: "/usr/lib/x86_64-linux-gnu/libc.a") else { return nil }
        return ["clang", "cc"].lazy.flatMap { name in dirs.map { "\($0)/\(name)" } }.first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
    }()

    /// A static program that tries the chroot escape (chroot into a subdirectory, climb with "..",
    /// chroot again) and writes argv[1]; it prints where it wrote.
    static func compileEscape(with compiler: String, to output: String, scratch: String) throws {
        let source = """
            #include <fcntl.h>
            #include <stdio.h>
            #include <sys/stat.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                if (argc < 2) return 1;
                mkdir("/jail", 0755);
                if (chroot("/jail") != 0) { perror("chroot"); return 2; }
                for (int i = 0; i < 64; i++) chdir("..");
                if (chroot(".") != 0) { perror("chroot ."); return 3; }
                int fd = open(argv[1], O_CREAT | O_WRONLY, 0644);
                if (fd < 0) { perror(argv[1]); return 4; }
                dprintf(fd, "escaped from the build\\n");
                return 0;
            }
            """
        try source.write(toFile: scratch + "/escape.c", atomically: true, encoding: .utf8)
        let r = Tools.run([compiler, "-static", "-O1", "-o", output, scratch + "/escape.c"])
        guard r.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: r.output]) }
    }

    /// An OCI layout with one image: `rootfs` as its only layer, ONBUILD triggers in its config
    /// (or `rawConfig` as the config blob's bytes).
    static func makeLayout(_ layout: String, tag: String, rootfs: String, onBuild: [String], rawConfig: String? = nil) throws {
        let script = """
            import hashlib, io, json, os, sys, tarfile
            layout, tag, rootfs, triggers = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
            os.makedirs(layout + "/blobs/sha256", exist_ok=True)
            def blob(data):
                d = hashlib.sha256(data).hexdigest()
                open(layout + "/blobs/sha256/" + d, "wb").write(data)
                return "sha256:" + d, len(data)
            buf = io.BytesIO()
            with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
                for name in sorted(os.listdir(rootfs)):
                    t.add(os.path.join(rootfs, name), arcname=name)
            layer, layer_size = blob(buf.getvalue())
            config = {"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "OnBuild": triggers},
                      "rootfs": {"type": "layers", "diff_ids": [layer]}}
            cfg, cfg_size = blob(sys.argv[5].encode() if len(sys.argv) > 5 else json.dumps(config).encode())
            manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cfg, "size": cfg_size},
                        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer, "size": layer_size}]}
            man, man_size = blob(json.dumps(manifest).encode())
            json.dump({"imageLayoutVersion": "1.0.0"}, open(layout + "/oci-layout", "w"))
            json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": man,
                       "size": man_size, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, open(layout + "/index.json", "w"))
            """
        let triggers = String(decoding: try JSONSerialization.data(withJSONObject: onBuild), as: UTF8.self)
        let r = Tools.run(["python3", "-c", script, layout, tag, rootfs, triggers] + (rawConfig.map { [$0] } ?? []))
        guard r.status == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: r.output]) }
    }

    /// Every process's command line.
    /// Starts gvmc with TMPDIR `tmp` and /dev/null as its standard streams; 0 when it cannot.
    /// posix_spawn and waitpid, not Foundation's Process, whose wait also waits for every holder
    /// of its descriptors: an orphaned sandboxed process would hang the test instead of failing it.
    static func spawnGVMC(_ arguments: [String], tmp: String) -> pid_t {
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = testCacheHome
        environment["TMPDIR"] = tmp
        let argv: [UnsafeMutablePointer<CChar>?] = ([GVMCBinary.path] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv + envp { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", O_RDWR, 0) }
        var pid = pid_t()
        return posix_spawn(&pid, GVMCBinary.path, &actions, nil, argv, envp) == 0 ? pid : 0
    }

    static func processes() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid -> String? in
            guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        }
    }
}

extension ConvertCommand {
    /// A convert that fails leaves nothing: an unwritable --extra-json-info-path is refused
    /// before any work, with the system's reason; an image whose config blob is not a config is
    /// named with the config's digest.
    @Test func failedConvertsLeaveNoOutputAndSayWhy() throws {
        let scratch = Scratch()
        let rootfs = scratch.sub("rootfs")
        try FileManager.default.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        write(rootfs + "/bin/hello", "hello\n")
        try EscapeFixture.makeLayout(scratch.sub("good"), tag: "v1", rootfs: rootfs, onBuild: [])
        let out = scratch.sub("out.gvmi")
        let unwritable = GVMCBinary.run([
            "convert", "oci-layout://" + scratch.sub("good") + ":v1", "-o", out,
            "--extra-json-info-path", scratch.sub("missing-dir/info.json"), "--cache-dir", scratch.sub("c")
        ])
        #expect(unwritable.status == 1)
        #expect(
            unwritable.err.contains("--extra-json-info-path") && unwritable.err.contains("No such file or directory"), "\(unwritable.err)")
        #expect(!FileManager.default.fileExists(atPath: out), "a failed convert left its output")

        try EscapeFixture.makeLayout(scratch.sub("lying"), tag: "v1", rootfs: rootfs, onBuild: [], rawConfig: "[\"not a config\"]")
        let lying = GVMCBinary.run(["convert", "oci-layout://" + scratch.sub("lying") + ":v1", "-o", out, "--cache-dir", scratch.sub("c")])
        #expect(lying.status == 1)
        let digest = try #require(
            try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("lying/blobs/sha256")).first { name in
                (try? String(contentsOfFile: scratch.sub("lying/blobs/sha256/" + name), encoding: .utf8)) == "[\"not a config\"]"
            })
        #expect(lying.err.contains("lying") && lying.err.contains("config sha256:" + digest), "\(lying.err)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// An unprivileged build is root of a user namespace: the same escape must not reach the
    /// invoking user's files, and RUN gets the same capabilities and seccomp filter as root's.
    @Test(
        .enabled(
            if: BuildFixture.canRun && Tools.exists("setpriv") && Tools.exists("newuidmap") && Tools.exists("useradd")
                && Tools.hasUnsquashfs,
            "needs root (to make a test user), setpriv, newuidmap (uidmap) and unsquashfs"))
    func unprivilegedBuildsAreConfinedAsRootBuildsAre() throws {
        guard let compiler = EscapeFixture.compiler else {
            Issue.record("skipped: no C compiler with a static libc (clang or cc, libc6-dev) to build the escape program")
            return
        }
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let user = try TestUser()
        try user.subordinateIDs(true)
        let home = scratch.sub("home")
        for dir in [home, home + "/tmp", home + "/cache"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chown(dir, user.uid, 65534)
        }
        let ctx = scratch.sub("ctx")
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: BuildFixture.busybox!, toPath: ctx + "/busybox")
        try EscapeFixture.compileEscape(with: compiler, to: ctx + "/escape", scratch: scratch.path)
        let marker = home + "/escaped"
        write(
            ctx + "/Dockerfile",
            """
            FROM scratch
            COPY busybox /bin/busybox
            COPY escape /bin/escape
            RUN ["/bin/busybox", "mkdir", "-p", "\(home)"]
            RUN ["/bin/escape", "\(marker)"]
            RUN ["/bin/busybox", "sh", "-c", "/bin/busybox grep -E '^(CapBnd|Seccomp):' /proc/self/status > /status"]
            """)
        let out = home + "/out.gvmi"
        let r = user.gvmc(["build", "--progress", "quiet", "-o", out, ctx], home: home)
        #expect(r.status == 0, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: marker), "an unprivileged build's RUN wrote into the user's home")
        let status = Tools.run(["unsquashfs", "-cat", out, "status"]).output
        #expect(status.contains("00000000a80425fb") && status.contains("Seccomp:\t2"), "\(status)")
        #expect(Tools.run(["unsquashfs", "-cat", out, marker]).output.contains("escaped from"), "the escape should land inside the image")
    }
}
