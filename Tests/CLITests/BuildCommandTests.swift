// `gvmc build` end to end with a static busybox as the only binary: multi-stage, RUN in the
// sandbox, COPY with .dockerignore and --chown, build args, heredocs; the image checked by the
// kernel's squashfs driver and by `gvmc inspect`.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum BuildFixture {
    static let busybox: String? = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let canRun = getuid() == 0 && busybox != nil && FileManager.default.fileExists(atPath: "/dev/loop-control")

    /// A stage with busybox installed (its applets as /bin links), to build FROM.
    static let toolsStage = """
        FROM scratch AS tools
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        """

    static func context(_ dockerfile: String, files: [String: String] = [:]) throws -> String {
        let dir = tempDirectory()
        try FileManager.default.copyItem(atPath: busybox!, toPath: dir + "/busybox")
        write(dir + "/Dockerfile", dockerfile)
        for (name, text) in files {
            try FileManager.default.createDirectory(
                atPath: (dir + "/" + name as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            write(dir + "/" + name, text)
        }
        return dir
    }
}

@Suite(
    .serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, loop mount) and busybox (apt-get install busybox-static)"))
struct BuildCommand {
    let dockerfile = """
        ARG GREETING=hello
        FROM scratch AS tools
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]

        FROM tools AS build
        ARG GREETING
        RUN echo "$GREETING from $(hostname)" > /greeting.txt

        FROM tools
        RUN mkdir -p /etc && printf 'root:x:0:0::/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > /etc/passwd \\
         && printf 'root:x:0:\\napp:x:1000:\\n' > /etc/group
        WORKDIR /golem/work
        COPY --from=build /greeting.txt ./
        COPY --chown=app:app src/ ./src/
        COPY <<EOF /golem/work/run.sh
        #!/bin/sh
        cat /golem/work/greeting.txt
        EOF
        RUN chmod 755 /golem/work/run.sh
        ENV MODE=fast
        USER app
        VOLUME /golem/output
        ENTRYPOINT ["/golem/work/run.sh"]
        """

    @Test func buildsAnImageTheKernelReadsWithTheRightConfig() throws {
        let ctx = try BuildFixture.context(
            dockerfile, files: ["src/task.py": "print(1)\n", "src/notes.md": "x", ".dockerignore": "**/*.md\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "--build-arg", "GREETING=hi", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix(out + "  size "))
        #expect(r.err.contains("Dockerfile:24:1: warning: ENTRYPOINT is not run on Golem"))
        let inspect = GVMCBinary.run(["inspect", "--json", out])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        let config = try #require(doc["config"] as? [String: Any])
        #expect(config["User"] as? String == "1000:1000")
        #expect(config["WorkingDir"] as? String == "/golem/work")
        #expect(config["Env"] as? [String] == ["MODE=fast"])
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"])
        let mnt = ctx + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-o", "loop,ro", "-t", "squashfs", out, mnt]
        try mount.run(); mount.waitUntilExit()
        #expect(mount.terminationStatus == 0)
        defer {
            let u = Process(); u.executableURL = URL(fileURLWithPath: "/bin/umount"); u.arguments = [mnt]; try? u.run(); u.waitUntilExit()
        }
        #expect(try String(contentsOfFile: mnt + "/golem/work/greeting.txt", encoding: .utf8) == "hi from buildkitsandbox\n")
        #expect(FileManager.default.fileExists(atPath: mnt + "/golem/work/src/task.py"))
        #expect(!FileManager.default.fileExists(atPath: mnt + "/golem/work/src/notes.md"))
        let owner = try FileManager.default.attributesOfItem(atPath: mnt + "/golem/work/src/task.py")[.ownerAccountID] as? Int
        #expect(owner == 1000)
        #expect(try String(contentsOfFile: mnt + "/golem/work/run.sh", encoding: .utf8).hasPrefix("#!/bin/sh\n"))
        for boot in ["proc", "sys", "dev", "tmp", "var/tmp"] {
            #expect(FileManager.default.fileExists(atPath: mnt + "/" + boot), "\(boot)")
        }
        var st = stat()
        #expect(lstat(mnt + "/etc/resolv.conf", &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        #expect(!FileManager.default.fileExists(atPath: mnt + "/.dockerenv"))
    }

    @Test func aFailingRunStopsTheBuildWithItsLineAndLeavesNothing() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        // A build directory of its own (other suites build at the same time).
        let tmp = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let r = GVMCBinary.run(["build", "-o", ctx + "/out.gvmi", ctx], env: ["TMPDIR": tmp])
        #expect(r.status == 1)
        #expect(r.err.contains("Dockerfile:3:1: RUN") && r.err.contains("exit code 3"))
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"]).isEmpty, "the build directory is removed")
        #expect(!((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(tmp), "no mount is left")
    }

    @Test func contextPathsCannotEscapeTheContext() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY ../../etc/passwd /p\nCOPY link /l\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        symlink("/etc/shadow", ctx + "/link")
        let r = GVMCBinary.run(["build", "-o", ctx + "/out.gvmi", ctx])
        #expect(r.status == 1)
        // `../../etc/passwd` is clamped to the context root, where there is no etc/passwd.
        #expect(r.err.contains("Dockerfile:2:1: COPY failed: ../../etc/passwd: no such file"), "\(r.err)")
        let r2 = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: "FROM scratch\nCOPY link /l\n")
        #expect(r2.status == 1 && r2.err.contains("outside the build context"), "\(r2.err)")
    }

    @Test func runMountsCacheTmpfsBindAndSecretLeaveNoTrace() throws {
        let ctx = try BuildFixture.context(
            """
            FROM scratch AS tools
            COPY busybox /bin/busybox
            RUN ["/bin/busybox", "--install", "-s", "/bin"]
            RUN mkdir -p /etc && echo made-in-stage > /etc/stagefile

            FROM tools
            RUN --mount=type=cache,target=/var/cache/app,id=appcache sh -c 'n=$(cat /var/cache/app/count 2>/dev/null || echo 0); echo $((n+1)) > /var/cache/app/count; cp /var/cache/app/count /run-count'
            RUN --mount=type=tmpfs,target=/scratch sh -c 'echo tmp > /scratch/x && test -f /scratch/x && mount | grep -q "/scratch type tmpfs"'
            RUN --mount=type=bind,source=ctxdir,target=/mnt/ctx cat /mnt/ctx/f > /from-bind && (touch /mnt/ctx/new 2>/dev/null && echo writable || echo readonly) > /bind-mode
            RUN --mount=type=bind,source=ctxdir,target=/mnt/rw,rw touch /mnt/rw/discarded
            RUN --mount=type=bind,from=tools,source=/etc/stagefile,target=/stagefile cat /stagefile > /from-stage
            RUN --mount=type=secret,id=tok cat /run/secrets/tok | wc -c > /secret-len && stat -c %a /run/secrets/tok > /secret-mode
            RUN --mount=type=secret,id=tok2,env=TOKEN sh -c 'echo ${#TOKEN} > /env-len'
            """, files: ["ctxdir/f": "from-context\n", "secret.txt": "s3cr3t-value\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let out = ctx + "/out.gvmi"
        var counts: [String] = []
        for round in 0..<2 {
            // The second build runs its steps again (--no-cache) to see the cache mount's count.
            let r = GVMCBinary.run(
                ["build"] + (round == 1 ? ["--no-cache"] : []) + [
                    "-o", out, "--cache-dir", ctx + "/cache", "--secret", "id=tok,src=\(ctx)/secret.txt",
                    "--secret", "id=tok2,env=GVMC_TEST_TOKEN", "-f", ctx + "/Dockerfile", ctx
                ], env: ["GVMC_TEST_TOKEN": "abcdef"])
            #expect(r.status == 0, "\(r.err)")
            counts.append(Tools.run(["unsquashfs", "-cat", out, "run-count"]).output)
        }
        #expect(counts == ["1\n", "2\n"], "the cache mount persists between builds")
        func cat(_ f: String) -> String { Tools.run(["unsquashfs", "-cat", out, f]).output }
        #expect(cat("from-bind") == "from-context\n" && cat("bind-mode") == "readonly\n" && cat("from-stage") == "made-in-stage\n")
        #expect(cat("secret-len") == "13\n" && cat("secret-mode") == "400\n" && cat("env-len") == "6\n")
        let list = Tools.run(["unsquashfs", "-lc", out]).output
        for stub in ["scratch", "mnt", "run/secrets", "var/cache", "stagefile\n"] {
            #expect(!list.contains("squashfs-root/" + stub), "mount point \(stub) left in the image:\n\(list)")
        }
        #expect(
            !FileManager.default.fileExists(atPath: ctx + "/ctxdir/new")
                && !FileManager.default.fileExists(atPath: ctx + "/ctxdir/discarded"))
        let missing = GVMCBinary.run(
            ["build", "-o", out, "--cache-dir", ctx + "/cache", "-f", "-", ctx],
            stdin: "FROM scratch\nCOPY busybox /bin/sh\nRUN --mount=type=secret,id=nope,required /bin/sh -c true\n")
        #expect(missing.status == 1 && missing.err.contains("<stdin>:3:1: secret nope is required but was not given"), "\(missing.err)")
    }

    /// Two builds at once on one cache directory: sharing=locked makes the second step wait for
    /// the first; sharing=private gives the step that finds the cache busy a directory of its own.
    @Test func cacheSharingLockedWaitsAndPrivateGetsItsOwnDirectory() throws {
        func dockerfile(_ sharing: String) -> String {
            """
            FROM scratch
            COPY busybox /bin/busybox
            ARG WHO
            RUN --mount=type=cache,target=/c,id=shared-\(sharing),sharing=\(sharing) ["/bin/busybox", "sh", "-c", "echo start $WHO >> /c/log; /bin/busybox sleep 2; echo end $WHO >> /c/log"]
            """
        }
        for sharing in ["locked", "private"] {
            let ctx = try BuildFixture.context(dockerfile(sharing))
            defer { try? FileManager.default.removeItem(atPath: ctx) }
            var builds: [Process] = []
            for who in ["a", "b"] {
                let p = Process()
                p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
                p.arguments = [
                    "build", "--build-arg", "WHO=\(who)", "--progress", "quiet", "-o", ctx + "/\(who).gvmi", "--cache-dir", ctx + "/cache",
                    ctx
                ]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                builds.append(p)
                usleep(300_000)
            }
            for p in builds { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
            let dirs = (try? FileManager.default.contentsOfDirectory(atPath: ctx + "/cache/run-cache")) ?? []
            let log =
                dirs.first { $0.hasPrefix("shared-\(sharing)-") && !$0.hasSuffix(".lock") && !$0.hasSuffix(".used") }
                .flatMap { try? String(contentsOfFile: ctx + "/cache/run-cache/" + $0 + "/log", encoding: .utf8) } ?? ""
            // Which build reaches its step first depends on the machine's load; what matters is
            // that the steps do not overlap.
            if sharing == "locked" {
                #expect(
                    ["start a\nend a\nstart b\nend b\n", "start b\nend b\nstart a\nend a\n"].contains(log), "one step at a time: \(log)")
            } else {
                #expect(["start a\nend a\n", "start b\nend b\n"].contains(log), "the second step used a directory of its own: \(log)")
            }
        }
    }

    @Test func addUnpacksLocalArchivesSafely() throws {
        let ctx = try BuildFixture.context(
            "FROM scratch\nADD arch.tar.gz /opt/app/\nADD --chown=7:8 arch.tar.gz /owned\nADD notar.txt text.gz /files/\n",
            files: ["src/inner/a.txt": "hi\n", "notar.txt": "plain text\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        #expect(Tools.run(["tar", "--owner=1234", "--group=99", "-czf", ctx + "/arch.tar.gz", "-C", ctx + "/src", "."]).status == 0)
        #expect(Tools.run(["sh", "-c", "gzip -c \(ctx)/notar.txt > \(ctx)/text.gz"]).status == 0)
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        let list = Tools.run(["unsquashfs", "-lln", out]).output
        #expect(
            list.contains("-rw-r--r-- 1234/99") && list.contains("squashfs-root/opt/app/inner/a.txt"), "owners from the archive:\n\(list)")
        #expect(list.contains("-rw-r--r-- 7/8") && list.contains("squashfs-root/owned/inner/a.txt"), "--chown applies to unpacked files")
        #expect(
            list.contains("squashfs-root/files/notar.txt") && list.contains("squashfs-root/files/text.gz"),
            "non-archives are copied as files")
        // A hostile archive is refused with the Dockerfile position, and writes nothing outside.
        #expect(
            Tools.run([
                "python3", "-c",
                "import tarfile,io,sys; t=tarfile.open(sys.argv[1],'w'); i=tarfile.TarInfo('../../gvmc-add-escape'); i.size=1; t.addfile(i, io.BytesIO(b'x')); t.close()",
                ctx + "/evil.tar"
            ]).status == 0)
        let refused = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/e.gvmi", ctx], stdin: "FROM scratch\nADD evil.tar /x/\n")
        #expect(
            refused.status == 1
                && refused.err.contains("<stdin>:2:1: ADD failed: archive evil.tar: entry \"../../gvmc-add-escape\": path points outside"),
            "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/e.gvmi"))
    }

    /// BuildKit's own integration test for COPY/ADD --exclude (frontend/dockerfile/
    /// exclude_patterns_test.go), the same tree and Dockerfile, with its expected results.
    @Test func excludePatternsFilterAsInBuildKit() throws {
        let files = [
            "dir1/file-101.png": "2", "dir1/file-102.txt": "3", "dir1/file-103.jpeg": "4",
            "dir2/file-201.pdf": "6", "dir2/file-202.jpeg": "7", "dir2/file-203.png": "8",
            "dir3/file-301.mp3": "9", "dir3/file-302.mpeg": "10", "dir4/file-401.txt": "11"
        ]
        let ctx = try BuildFixture.context(
            """
            FROM scratch AS builder1
            COPY --exclude=*/*.png --exclude=*/*.jpeg . /1
            FROM scratch AS builder2
            COPY --exclude=*/*.pdf --exclude=*/*.txt . /2
            FROM scratch AS builder3
            ADD --exclude=*.mp3 dir3/ /3/
            FROM scratch AS builder4
            COPY --exclude=*.mp3 --exclude=*.jpeg --exclude=*.png --exclude=*.pdf --exclude=*.txt dir* /4/
            FROM scratch AS builder5
            ADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5
            FROM scratch AS builder6
            ADD --exclude=* dir* /6
            FROM scratch
            COPY --from=builder1 / /builder1
            COPY --from=builder2 / /builder2
            COPY --from=builder3 / /builder3
            COPY --from=builder4 / /builder4
            COPY --from=builder5 / /builder5
            COPY --from=builder6 / /builder6
            """, files: files)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        try FileManager.default.removeItem(atPath: ctx + "/busybox")
        symlink("file-401.txt", ctx + "/dir4/file-402.txt")
        symlink("file-404.txt", ctx + "/dir4/file-403.txt")
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "-f", ctx + "/Dockerfile", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        let x = ctx + "/x"
        #expect(Tools.run(["unsquashfs", "-d", x, out]).status == 0)
        let cases: [(String, String?)] = [
            ("builder1/1/dir1/file-101.png", nil), ("builder1/1/dir1/file-102.txt", "3"), ("builder1/1/dir1/file-103.jpeg", nil),
            ("builder1/1/dir2/file-201.pdf", "6"), ("builder1/1/dir2/file-202.jpeg", nil), ("builder1/1/dir2/file-203.png", nil),
            ("builder1/1/dir3/file-301.mp3", "9"), ("builder1/1/dir3/file-302.mpeg", "10"), ("builder1/1/dir4/file-401.txt", "11"),
            ("builder1/1/dir4/file-402.txt", "->file-401.txt"), ("builder1/1/dir4/file-403.txt", "->file-404.txt"),
            ("builder2/2/dir1/file-101.png", "2"), ("builder2/2/dir1/file-102.txt", nil), ("builder2/2/dir1/file-103.jpeg", "4"),
            ("builder2/2/dir2/file-201.pdf", nil), ("builder2/2/dir2/file-202.jpeg", "7"), ("builder2/2/dir2/file-203.png", "8"),
            ("builder2/2/dir3/file-301.mp3", "9"), ("builder2/2/dir3/file-302.mpeg", "10"), ("builder2/2/dir4/file-401.txt", nil),
            ("builder2/2/dir4/file-402.txt", nil), ("builder2/2/dir4/file-403.txt", nil),
            ("builder3/3/file-301.mp3", nil), ("builder3/3/file-302.mpeg", "10"),
            ("builder4/4/file-101.png", nil), ("builder4/4/file-102.txt", nil), ("builder4/4/file-103.jpeg", nil),
            ("builder4/4/file-201.pdf", nil), ("builder4/4/file-202.jpeg", nil), ("builder4/4/file-203.png", nil),
            ("builder4/4/file-301.mp3", nil), ("builder4/4/file-302.mpeg", "10"), ("builder4/4/dir4/file-401.txt", nil),
            ("builder5/5/file-101.png", nil), ("builder5/5/file-102.txt", "3"), ("builder5/5/file-103.jpeg", nil),
            ("builder5/5/file-201.pdf", nil), ("builder5/5/file-202.jpeg", nil), ("builder5/5/file-203.png", nil),
            ("builder5/5/file-301.mp3", nil), ("builder5/5/file-302.mpeg", nil), ("builder5/5/file-401.txt", "11"),
            ("builder5/5/file-402.txt", "->file-401.txt"), ("builder5/5/file-403.txt", "->file-404.txt")
        ]
        for (path, expected) in cases {
            let full = x + "/" + path
            var st = stat()
            guard lstat(full, &st) == 0 else { #expect(expected == nil, "\(path) should exist"); continue }
            if st.st_mode & S_IFMT == S_IFLNK {
                #expect(expected == "->" + ((try? FileManager.default.destinationOfSymbolicLink(atPath: full)) ?? "?"), "\(path)")
            } else {
                #expect(expected == (try? String(contentsOfFile: full, encoding: .utf8)), "\(path)")
            }
        }
        #expect((try? FileManager.default.contentsOfDirectory(atPath: x + "/builder6/6")) == [], "--exclude=* leaves an empty directory")
    }

    @Test func parentsKeepSourcePathsAndDockerignoreExceptionsReinclude() throws {
        let ctx = try BuildFixture.context(
            """
            FROM scratch
            COPY --parents x/a.txt y/a.txt /no_pivot/
            COPY --parents ./x/./y/*.txt /pivot/
            COPY --parents **/*.md /docs/
            COPY --parents --exclude=**/skip.md **/*.md /docs2/
            COPY docs /plain/
            COPY *.txt *.md /txt/
            """,
            files: [
                "x/a.txt": "xa", "y/a.txt": "ya", "x/y/b.txt": "xyb", "x/y/c.md": "md", "x/y/skip.md": "s",
                "docs/README.md": "readme", "docs/internal.txt": "secret", "top.md": "top",
                "secret.txt": "never copied", ".dockerignore": "docs\n!docs/README.md\nsecret.txt\n!**/keep\n"
            ])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        let x = ctx + "/x-out"
        #expect(Tools.run(["unsquashfs", "-d", x, out]).status == 0)
        func read(_ p: String) -> String? { try? String(contentsOfFile: x + "/" + p, encoding: .utf8) }
        #expect(read("no_pivot/x/a.txt") == "xa" && read("no_pivot/y/a.txt") == "ya")
        #expect(read("pivot/y/b.txt") == "xyb" && !FileManager.default.fileExists(atPath: x + "/pivot/x"))
        #expect(read("docs/top.md") == "top" && read("docs/x/y/c.md") == "md" && read("docs/x/y/skip.md") == "s")
        #expect(read("docs/docs/README.md") == "readme", "an exception in .dockerignore re-includes a file of an ignored directory")
        #expect(
            !FileManager.default.fileExists(atPath: x + "/docs/x/a.txt") && !FileManager.default.fileExists(atPath: x + "/docs/y"),
            "only matching files and their parents are copied")
        #expect(read("docs2/x/y/c.md") == "md" && read("docs2/x/y/skip.md") == nil)
        #expect(read("plain/README.md") == "readme" && read("plain/internal.txt") == nil)
        #expect(
            read("txt/secret.txt") == nil && read("txt/top.md") == "top", "an ignored file stays out even when an exception pattern has **")
        let missing = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nCOPY --parents nope/a.txt /d/\n")
        #expect(missing.status == 1 && missing.err.contains("<stdin>:2:1: COPY failed: nope/a.txt: no such file"), "\(missing.err)")
    }

    @Test func dockerBuildFlagsAreAccepted() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let plain = GVMCBinary.run(["build", "--progress=plain", "--no-cache", "--network", "none", "-o", ctx + "/a.gvmi", ctx])
        #expect(plain.status == 0 && plain.err.contains("#4 [2/2] RUN [\"/bin/busybox\", \"true\"]\n#4 DONE "), "\(plain.err)")
        let quiet = GVMCBinary.run(["build", "--progress", "quiet", "-o", ctx + "/b.gvmi", ctx])
        #expect(quiet.status == 0 && !quiet.err.contains("#4 ") && quiet.out.contains("b.gvmi  size "), "\(quiet.err)")
        let bad = GVMCBinary.run(["build", "--progress", "fancy", "--network", "bridge", "-o", ctx + "/c.gvmi", ctx])
        #expect(bad.status != 0 && bad.err.contains("fancy"), "\(bad.err)")
    }
}
