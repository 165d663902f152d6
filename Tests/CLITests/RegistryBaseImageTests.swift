// Registry images as build bases and lint input: `gvmc lint --pull`, hostile layers rejected or
// contained, and `gvmc build FROM <registry image>` (platforms, RUN on the image's tree, buildah's
// result as the reference).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension ConvertCommand {
    @Test func lintPullReadsTheBaseImagesConfigWithoutLayers() throws {
        let scratch = Scratch()
        write(scratch.sub("Dockerfile"), "FROM \(RegistryFixture.registry("PLAIN"))/test/multi:v1\nRUN echo hi\n")
        let offline = GVMCBinary.run(["lint", "--format", "gnu", scratch.sub("Dockerfile")])
        #expect(offline.status == 1 && offline.out.contains("[GVM003]"), "without the base config, no VOLUME is known: \(offline.out)")
        let pulled = GVMCBinary.run(["lint", "--pull", "--cache-dir", scratch.sub("cache"), "--format", "gnu", scratch.sub("Dockerfile")])
        #expect(pulled.status == 0 && !pulled.out.contains("GVM003"), "the base declares VOLUME /golem/output: \(pulled.out) \(pulled.err)")
        #expect(RegistryFixture.blobs(scratch.sub("cache")).count == 1, "only the config blob is fetched")
        write(scratch.sub("Missing"), "FROM \(RegistryFixture.registry("PLAIN"))/test/nothere:v1\n")
        let missing = GVMCBinary.run(["lint", "--pull", "--cache-dir", scratch.sub("cache"), scratch.sub("Missing")])
        #expect(
            missing.status == 2 && missing.err.contains("--pull \(RegistryFixture.registry("PLAIN"))/test/nothere:v1")
                && missing.err.contains("not found"))
    }

    @Test func hostileLayersAreRejectedOrContained() throws {
        let scratch = Scratch()
        func convert(_ tag: String) -> (status: Int32, out: String, err: String) {
            GVMCBinary.run(["convert", "oci-layout://\(RegistryFixture.layout):\(tag)", "-o", scratch.sub("\(tag).gvmi")])
        }
        let rejected: [(String, String)] = [
            ("hostile-dotdot", "entry \"../../../../tmp/gvmc-escape\": path points outside the root filesystem"),
            ("hostile-hardlink-out", "entry \"hl\": hardlink target \"../../../../etc/passwd\" points outside the root filesystem"),
            ("hostile-absurd-size", "corrupt or truncated archive"),
            ("hostile-truncated", "corrupt or truncated archive")
        ]
        for (tag, message) in rejected {
            let r = convert(tag)
            #expect(r.status == 1 && r.err.contains("layer sha256:") && r.err.contains(message), "\(tag): \(r.err)")
            #expect(!FileManager.default.fileExists(atPath: scratch.sub("\(tag).gvmi")), "\(tag): no partial output")
        }
        #expect(!FileManager.default.fileExists(atPath: "/tmp/gvmc-escape"))
        // Symlinks planted in a layer resolve inside the root, as a chrooted process sees them.
        let planted = convert("hostile-symlink-parent")
        #expect(planted.status == 0, "\(planted.err)")
        let list = Tools.run(["unsquashfs", "-lc", scratch.sub("hostile-symlink-parent.gvmi")]).output
        #expect(list.contains("squashfs-root/etc-planted") && list.contains("squashfs-root/tmp-planted"), "\(list)")
        #expect(!FileManager.default.fileExists(atPath: "/etc-planted") && !FileManager.default.fileExists(atPath: "/tmp-planted"))
        // Replacements and duplicates: the last entry wins.
        let chain = convert("hostile-replace-chain")
        #expect(chain.status == 0, "\(chain.err)")
        #expect(Tools.run(["unsquashfs", "-cat", scratch.sub("hostile-replace-chain.gvmi"), "dup"]).output == "second wins")
        #expect(Tools.run(["unsquashfs", "-cat", scratch.sub("hostile-replace-chain.gvmi"), "d/g"]).output == "2")
        #expect(!Tools.run(["unsquashfs", "-lc", scratch.sub("hostile-replace-chain.gvmi")]).output.contains("d/f"))
    }

    /// FROM --platform: each stage gets the image for its platform from a multi-platform index
    /// (/arch holds amd64 or arm64; the arm64 image's /bin/sh is an aarch64 executable).
    @Test(.enabled(if: BuildFixture.canRun, "needs root for RUN"))
    func stagesForOtherPlatformsGetTheirImages() throws {
        let scratch = Scratch()
        let ref = RegistryFixture.registry("PLAIN") + "/test/multiarch:v1"
        func build(_ dockerfile: String, _ flags: [String] = []) -> (status: Int32, out: String, err: String) {
            GVMCBinary.run(
                ["build", "-f", "-", "-o", scratch.sub("p.gvmi"), "--cache-dir", scratch.sub("cache")] + flags + [scratch.path],
                stdin: dockerfile)
        }
        func cat(_ path: String) -> String { Tools.run(["unsquashfs", "-cat", scratch.sub("p.gvmi"), path]).output }
        // An amd64 image that copies from an arm64 stage (a stage for another platform, no RUN in it).
        let mixed = build(
            "FROM --platform=linux/arm64 \(ref) AS arm\nFROM \(ref)\nCOPY --from=arm /arch /arm-arch\nRUN cat /arch /arm-arch > /both\n")
        #expect(mixed.status == 0, "\(mixed.err)")
        #expect(cat("both") == "amd64\narm64\n")
        // Cross-compiling: --platform linux/arm64, a build stage on the build platform that runs
        // (natively) and sees TARGETARCH, and a final arm64 stage without RUN.
        let cross = build(
            """
            FROM --platform=$BUILDPLATFORM \(ref) AS build
            ARG TARGETARCH
            RUN echo "$TARGETARCH from $(cat /arch)" > /out
            FROM \(ref)
            COPY --from=build /out /out
            """, ["--platform", "linux/arm64"])
        #expect(cross.status == 0, "\(cross.err)")
        #expect(cat("out") == "arm64 from amd64\n" && cat("arch") == "arm64\n", "the final stage is the arm64 image")
        #expect(cross.err.contains("--platform linux/arm64: Golem providers run linux/amd64 VMs only"))
        // A RUN in an arm64 stage on this amd64 machine: the kernel refuses the aarch64 /bin/sh;
        // the error has the line and says what is needed. (With an emulator registered for
        // aarch64 the fixture's header-only executable would fail differently.)
        if !FileManager.default.fileExists(atPath: "/proc/sys/fs/binfmt_misc/qemu-aarch64") {
            let foreign = build("FROM --platform=linux/arm64 \(ref)\nRUN true\n")
            #expect(
                foreign.status == 1 && foreign.err.contains("<stdin>:2:1: ") && foreign.err.contains("Exec format error")
                    && foreign.err.contains("this stage is for linux/arm64 and this machine runs linux/amd64")
                    && foreign.err.contains("qemu-user-static"), "\(foreign.err)")
            // A stage FROM that stage is arm64 too.
            let child = build("FROM --platform=linux/arm64 \(ref) AS arm\nFROM arm\nRUN true\n")
            #expect(
                child.status == 1 && child.err.contains("<stdin>:3:1: ") && child.err.contains("this stage is for linux/arm64"),
                "\(child.err)")
        }
        // A platform no index entry has, and one that is not a platform: the FROM line.
        let none = build("# c\nFROM --platform=linux/s390x \(ref) AS x\nFROM scratch\nCOPY --from=x /arch /a\n")
        #expect(
            none.status == 1 && none.err.contains("<stdin>:2:1: FROM") && none.err.contains("no image for platform linux/s390x"),
            "\(none.err)")
        let bad = build("FROM --platform=windows \(ref)\n")
        #expect(bad.status == 1 && bad.err.contains("<stdin>:1:1: FROM --platform=windows: invalid platform"), "\(bad.err)")
    }

    @Test(.enabled(if: BuildFixture.canRun, "needs root for RUN"))
    func buildFromARegistryImageRunsStepsOnItsTree() throws {
        let scratch = Scratch()
        let ctx = scratch.sub("ctx")
        try FileManager.default.createDirectory(atPath: ctx, withIntermediateDirectories: true)
        write(
            ctx + "/Dockerfile",
            """
            FROM \(RegistryFixture.registry("PLAIN"))/test/multi:v1
            RUN echo "$(cat /etc/motd | wc -l) $(id -u)" > /golem/result && rm /opq/c
            COPY --from=oci-layout://\(RegistryFixture.layout):zstd /zst/hello /golem/hello
            USER app
            """)
        let r = GVMCBinary.run(["build", "-o", scratch.sub("b.gvmi"), "--cache-dir", scratch.sub("cache"), ctx])
        #expect(r.status == 0, "\(r.err)")
        let out = scratch.sub("b.gvmi")
        #expect(Tools.run(["unsquashfs", "-cat", out, "golem/result"]).output == "1 0\n")
        #expect(Tools.run(["unsquashfs", "-cat", out, "golem/hello"]).output.count == 18000)
        let list = Tools.run(["unsquashfs", "-lls", out]).output
        #expect(!list.contains("opq/c") && list.contains("usr/lib/through-symlink.so") && list.contains("rwsr-xr-x"))
        let config = try RegistryFixture.config(out)
        #expect(config["User"] as? String == "1000:1001" && config["WorkingDir"] as? String == "/golem")
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"], "inherited from the base image")
        let missing = scratch.sub("ctx2")
        try FileManager.default.createDirectory(atPath: missing, withIntermediateDirectories: true)
        write(missing + "/Dockerfile", "# base\nFROM \(RegistryFixture.registry("PLAIN"))/test/nothere:v1\nRUN true\n")
        let bad = GVMCBinary.run(["build", "-o", scratch.sub("x.gvmi"), "--cache-dir", scratch.sub("cache"), missing])
        #expect(bad.status == 1 && bad.err.contains("Dockerfile:2:1: FROM") && bad.err.contains("not found"), "\(bad.err)")
    }

    /// The reference comparison of the build issue: buildah (chroot isolation, vfs storage) builds
    /// the same Dockerfile from the same registry image; its image unpacked by umoci and gvmc's
    /// image mounted by the kernel hold the same tree (types, modes, owners, contents, links;
    /// timestamps aside) and the same config fields.
    @Test(.enabled(if: BuildFixture.canRun && Tools.exists("buildah"), "needs root, loop devices and buildah (make test-deps)"))
    func buildMatchesBuildahBud() throws {
        let scratch = Scratch()
        let ctx = scratch.sub("ctx")
        try FileManager.default.createDirectory(atPath: ctx + "/src/sub", withIntermediateDirectories: true)
        write(ctx + "/src/task.sh", "#!/bin/sh\necho task\n")
        chmod(ctx + "/src/task.sh", 0o755)
        write(ctx + "/src/sub/d.txt", "data\n")
        write(
            ctx + "/Dockerfile",
            """
            FROM \(RegistryFixture.registry("PLAIN"))/test/user:v1
            USER root
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN mkdir -p /golem/input /golem/output /app && echo hello > /app/hello.txt && ln -s /app/hello.txt /app/link && chmod 600 /app/hello.txt
            RUN echo "worker:x:1500:1500::/home/worker:/bin/sh" >> /etc/passwd && echo "worker:x:1500:" >> /etc/group \\
             && chown worker /app/hello.txt && rm /bin/ls /opq/a && ln /app/hello.txt /app/hard
            RUN rm -rf /opq && mkdir /opq && echo new > /opq/new
            COPY src/ /app/src/
            COPY --chown=1500:1500 src/task.sh /app/owned.sh
            WORKDIR /app
            ENV MODE=test
            VOLUME /golem/output
            USER worker
            """)
        try FileManager.default.createDirectory(atPath: scratch.sub("tmp"), withIntermediateDirectories: true)
        let ours = GVMCBinary.run(
            ["build", "-o", scratch.sub("g.gvmi"), "--cache-dir", scratch.sub("cache"), ctx], env: ["TMPDIR": scratch.sub("tmp")])
        #expect(ours.status == 0, "\(ours.err)")
        // The base image is unpacked once into the cache and mounted as an overlay's lower layer;
        // after the build no mount is left.
        let trees = ((try? FileManager.default.contentsOfDirectory(atPath: scratch.sub("cache") + "/rootfs")) ?? []).filter {
            !$0.hasSuffix(".used")
        }
        #expect(trees.count == 1 && trees[0].count == 64, "\(trees)")
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(scratch.path))
        let buildah = ["buildah", "--root", scratch.sub("storage"), "--runroot", scratch.sub("run"), "--storage-driver", "vfs"]
        let bud = Tools.run(
            ["env", "BUILDAH_ISOLATION=chroot"] + buildah + ["bud", "--layers=false", "--tls-verify=false", "-t", "ref", ctx])
        #expect(bud.status == 0, "buildah bud: \(bud.output.suffix(800))")
        let push = Tools.run(buildah + ["push", "ref", "oci:\(scratch.sub("oci")):v1"])
        #expect(push.status == 0, "buildah push: \(push.output.suffix(400))")
        let unpack = Tools.run(["umoci", "unpack", "--image", scratch.sub("oci") + ":v1", scratch.sub("bundle")])
        #expect(unpack.status == 0, "umoci unpack: \(unpack.output)")
        guard ours.status == 0, unpack.status == 0 else { return }
        let mnt = scratch.sub("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let m = Tools.run(["mount", "-o", "loop,ro", "-t", "squashfs", scratch.sub("g.gvmi"), mnt])
        #expect(m.status == 0, "\(m.output)")
        guard m.status == 0 else { return }
        defer { _ = Tools.run(["umount", mnt]) }
        var theirs = try TreeSnapshot.take(scratch.sub("bundle/rootfs"), mtimes: false)
        var mine = try TreeSnapshot.take(mnt, mtimes: false)
        // Boot files: buildah leaves empty 0755 placeholders and /run; gvmc writes Golem's (GOLEM.md §1.3).
        for p in RegistryFixture.bootPaths.union(["/run"]) { theirs[p] = nil; mine[p] = nil }
        let differences = TreeSnapshot.diff(theirs, mine)
        #expect(differences.isEmpty, "gvmc's tree differs from buildah's:\n\(differences.prefix(20).joined(separator: "\n"))")
        #expect(mine["/app/hard"]?.linkGroup != 0 && mine["/app/hard"]?.linkGroup == mine["/app/hello.txt"]?.linkGroup)
        // Config: buildah's runtime view (config.json of the bundle) against gvmc's trailer.
        let bundle = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.sub("bundle/config.json"))))
                as? [String: Any])
        let process = try #require(bundle["process"] as? [String: Any])
        let user = try #require(process["user"] as? [String: Any])
        let config = try RegistryFixture.config(scratch.sub("g.gvmi"))
        #expect(config["User"] as? String == "\(user["uid"] as? Int ?? -1):\(user["gid"] as? Int ?? -1)")
        #expect(config["WorkingDir"] as? String == process["cwd"] as? String)
        let theirEnv = Set((process["env"] as? [String] ?? []).filter { !$0.hasPrefix("TERM=") && !$0.hasPrefix("HOME=") })
        #expect(Set(config["Env"] as? [String] ?? []) == theirEnv)
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"])
    }
}
