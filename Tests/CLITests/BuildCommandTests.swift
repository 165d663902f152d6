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
            try FileManager.default.createDirectory(atPath: (dir + "/" + name as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            write(dir + "/" + name, text)
        }
        return dir
    }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, loop mount) and busybox (apt-get install busybox-static)"))
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
        let ctx = try BuildFixture.context(dockerfile, files: ["src/task.py": "print(1)\n", "src/notes.md": "x", ".dockerignore": "**/*.md\n"])
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
        defer { let u = Process(); u.executableURL = URL(fileURLWithPath: "/bin/umount"); u.arguments = [mnt]; try? u.run(); u.waitUntilExit() }
        #expect(try String(contentsOfFile: mnt + "/golem/work/greeting.txt", encoding: .utf8) == "hi from buildkitsandbox\n")
        #expect(FileManager.default.fileExists(atPath: mnt + "/golem/work/src/task.py"))
        #expect(!FileManager.default.fileExists(atPath: mnt + "/golem/work/src/notes.md"))
        let owner = try FileManager.default.attributesOfItem(atPath: mnt + "/golem/work/src/task.py")[.ownerAccountID] as? Int
        #expect(owner == 1000)
        #expect(try String(contentsOfFile: mnt + "/golem/work/run.sh", encoding: .utf8).hasPrefix("#!/bin/sh\n"))
        for boot in ["proc", "sys", "dev", "tmp", "var/tmp"] { #expect(FileManager.default.fileExists(atPath: mnt + "/" + boot), "\(boot)") }
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
        let ctx = try BuildFixture.context("""
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
            let r = GVMCBinary.run(["build"] + (round == 1 ? ["--no-cache"] : []) + ["-o", out, "--cache-dir", ctx + "/cache", "--secret", "id=tok,src=\(ctx)/secret.txt",
                                    "--secret", "id=tok2,env=GVMC_TEST_TOKEN", "-f", ctx + "/Dockerfile", ctx], env: ["GVMC_TEST_TOKEN": "abcdef"])
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
        #expect(!FileManager.default.fileExists(atPath: ctx + "/ctxdir/new") && !FileManager.default.fileExists(atPath: ctx + "/ctxdir/discarded"))
        let missing = GVMCBinary.run(["build", "-o", out, "--cache-dir", ctx + "/cache", "-f", "-", ctx],
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
                p.arguments = ["build", "--build-arg", "WHO=\(who)", "--progress", "quiet", "-o", ctx + "/\(who).gvmi", "--cache-dir", ctx + "/cache", ctx]
                p.standardOutput = FileHandle.nullDevice
                p.standardError = FileHandle.nullDevice
                try p.run()
                builds.append(p)
                usleep(300_000)
            }
            for p in builds { p.waitUntilExit(); #expect(p.terminationStatus == 0) }
            let dirs = (try? FileManager.default.contentsOfDirectory(atPath: ctx + "/cache/run-cache")) ?? []
            let log = dirs.first { $0.hasPrefix("shared-\(sharing)-") && !$0.hasSuffix(".lock") && !$0.hasSuffix(".used") }
                .flatMap { try? String(contentsOfFile: ctx + "/cache/run-cache/" + $0 + "/log", encoding: .utf8) } ?? ""
            if sharing == "locked" {
                #expect(log == "start a\nend a\nstart b\nend b\n", "one step at a time: \(log)")
            } else {
                #expect(log == "start a\nend a\n", "the second step used a directory of its own: \(log)")
            }
        }
    }

    @Test func addUnpacksLocalArchivesSafely() throws {
        let ctx = try BuildFixture.context("FROM scratch\nADD arch.tar.gz /opt/app/\nADD --chown=7:8 arch.tar.gz /owned\nADD notar.txt text.gz /files/\n",
                                           files: ["src/inner/a.txt": "hi\n", "notar.txt": "plain text\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        #expect(Tools.run(["tar", "--owner=1234", "--group=99", "-czf", ctx + "/arch.tar.gz", "-C", ctx + "/src", "."]).status == 0)
        #expect(Tools.run(["sh", "-c", "gzip -c \(ctx)/notar.txt > \(ctx)/text.gz"]).status == 0)
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        let list = Tools.run(["unsquashfs", "-lln", out]).output
        #expect(list.contains("-rw-r--r-- 1234/99") && list.contains("squashfs-root/opt/app/inner/a.txt"), "owners from the archive:\n\(list)")
        #expect(list.contains("-rw-r--r-- 7/8") && list.contains("squashfs-root/owned/inner/a.txt"), "--chown applies to unpacked files")
        #expect(list.contains("squashfs-root/files/notar.txt") && list.contains("squashfs-root/files/text.gz"), "non-archives are copied as files")
        // A hostile archive is refused with the Dockerfile position, and writes nothing outside.
        #expect(Tools.run(["python3", "-c", "import tarfile,io,sys; t=tarfile.open(sys.argv[1],'w'); i=tarfile.TarInfo('../../gvmc-add-escape'); i.size=1; t.addfile(i, io.BytesIO(b'x')); t.close()", ctx + "/evil.tar"]).status == 0)
        let refused = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/e.gvmi", ctx], stdin: "FROM scratch\nADD evil.tar /x/\n")
        #expect(refused.status == 1 && refused.err.contains("<stdin>:2:1: ADD failed: archive evil.tar: entry \"../../gvmc-add-escape\": path points outside"), "\(refused.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/e.gvmi"))
    }

    /// BuildKit's own integration test for COPY/ADD --exclude (frontend/dockerfile/
    /// exclude_patterns_test.go), the same tree and Dockerfile, with its expected results.
    @Test func excludePatternsFilterAsInBuildKit() throws {
        let files = ["dir1/file-101.png": "2", "dir1/file-102.txt": "3", "dir1/file-103.jpeg": "4",
                     "dir2/file-201.pdf": "6", "dir2/file-202.jpeg": "7", "dir2/file-203.png": "8",
                     "dir3/file-301.mp3": "9", "dir3/file-302.mpeg": "10", "dir4/file-401.txt": "11"]
        let ctx = try BuildFixture.context("""
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
            ("builder5/5/file-402.txt", "->file-401.txt"), ("builder5/5/file-403.txt", "->file-404.txt"),
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
        let ctx = try BuildFixture.context("""
        FROM scratch
        COPY --parents x/a.txt y/a.txt /no_pivot/
        COPY --parents ./x/./y/*.txt /pivot/
        COPY --parents **/*.md /docs/
        COPY --parents --exclude=**/skip.md **/*.md /docs2/
        COPY docs /plain/
        COPY *.txt *.md /txt/
        """, files: ["x/a.txt": "xa", "y/a.txt": "ya", "x/y/b.txt": "xyb", "x/y/c.md": "md", "x/y/skip.md": "s",
                     "docs/README.md": "readme", "docs/internal.txt": "secret", "top.md": "top",
                     "secret.txt": "never copied", ".dockerignore": "docs\n!docs/README.md\nsecret.txt\n!**/keep\n"])
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
        #expect(!FileManager.default.fileExists(atPath: x + "/docs/x/a.txt") && !FileManager.default.fileExists(atPath: x + "/docs/y"),
                "only matching files and their parents are copied")
        #expect(read("docs2/x/y/c.md") == "md" && read("docs2/x/y/skip.md") == nil)
        #expect(read("plain/README.md") == "readme" && read("plain/internal.txt") == nil)
        #expect(read("txt/secret.txt") == nil && read("txt/top.md") == "top", "an ignored file stays out even when an exception pattern has **")
        let missing = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nCOPY --parents nope/a.txt /d/\n")
        #expect(missing.status == 1 && missing.err.contains("<stdin>:2:1: COPY failed: nope/a.txt: no such file"), "\(missing.err)")
    }

    /// RUN --mount=type=ssh against a real ssh-agent holding a real key: a static client (built
    /// here from C) asks the forwarded socket for the agent's identities inside the sandbox.
    @Test(.enabled(if: Tools.exists("ssh-agent") && Tools.exists("ssh-keygen") && Tools.exists("clang"),
                   "needs openssh-client (make test-deps) and clang (the Swift toolchain's)"))
    func sshMountsForwardTheAgent() throws {
        let ctx = try BuildFixture.context("""
        FROM scratch
        COPY busybox /bin/busybox
        COPY agentc /agentc
        RUN --mount=type=ssh ["/agentc", "", "/default.txt"]
        RUN --mount=type=ssh,id=other,target=/tmp/sock,uid=1000,mode=0660 ["/agentc", "/tmp/sock", "/other.txt"]
        RUN --mount=type=ssh,id=absent ["/bin/busybox", "sh", "-c", "echo [$SSH_AUTH_SOCK] > /absent.txt; /bin/busybox ls /run/buildkit 2>/dev/null | /bin/busybox wc -l >> /absent.txt"]
        """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        write(ctx + "/agentc.c", """
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/stat.h>
            #include <sys/un.h>
            #include <unistd.h>
            int main(int argc, char **argv) {
                const char *path = argv[1][0] ? argv[1] : getenv("SSH_AUTH_SOCK");
                FILE *out = fopen(argv[2], "w");
                struct stat st; stat(path, &st);
                struct sockaddr_un a = {.sun_family = AF_UNIX}; strcpy(a.sun_path, path);
                int fd = socket(AF_UNIX, SOCK_STREAM, 0);
                if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0) { fprintf(out, "connect failed\\n"); return 1; }
                unsigned char req[5] = {0, 0, 0, 1, 11}, rsp[9];
                write(fd, req, 5);
                size_t got = 0; while (got < 9) { ssize_t n = read(fd, rsp + got, 9 - got); if (n <= 0) break; got += n; }
                fprintf(out, "sock=%s type=%d keys=%d mode=%o uid=%d\\n", path, rsp[4], (rsp[5] << 24) | (rsp[6] << 16) | (rsp[7] << 8) | rsp[8],
                        (unsigned)(st.st_mode & 07777), (int)st.st_uid);
                return 0;
            }
            """)
        #expect(Tools.run(["clang", "-static", "-O1", "-o", ctx + "/agentc", ctx + "/agentc.c"]).status == 0)
        let socket = ctx + "/agent.sock"
        let agent = Process()
        agent.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
        agent.arguments = ["-D", "-a", socket]
        agent.standardOutput = FileHandle.nullDevice
        try agent.run()
        defer { kill(agent.processIdentifier, SIGKILL); agent.waitUntilExit() }  // SIGTERM may be blocked in the test process's children
        for _ in 0..<50 where !FileManager.default.fileExists(atPath: socket) { usleep(100_000) }
        #expect(Tools.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", ctx + "/key"]).status == 0)
        #expect(Tools.run(["env", "SSH_AUTH_SOCK=" + socket, "ssh-add", "-q", ctx + "/key"]).status == 0)
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "--ssh", "default=" + socket, "--ssh", "other=" + socket, "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        func cat(_ f: String) -> String { Tools.run(["unsquashfs", "-cat", out, f]).output }
        #expect(cat("default.txt") == "sock=/run/buildkit/ssh_agent.0 type=12 keys=1 mode=600 uid=0\n", "SSH_AUTH_SOCK set, one key listed")
        #expect(cat("other.txt") == "sock=/tmp/sock type=12 keys=1 mode=660 uid=1000\n", "target, uid and mode honoured")
        #expect(cat("absent.txt") == "[]\n0\n", "an optional agent that was not given mounts nothing")
        let list = Tools.run(["unsquashfs", "-lls", out]).output
        #expect(!list.contains("ssh_agent") && !list.contains("tmp/sock"), "no socket or mount point lands in the image:\n\(list)")
        let required = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/r.gvmi", ctx],
                                      stdin: "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=ssh,required [\"/bin/busybox\", \"true\"]\n")
        #expect(required.status == 1 && required.err.contains("<stdin>:3:1: ssh agent default is required but was not given"), "\(required.err)")
        // Key files (docker build's --ssh default=~/.ssh/id_ed25519): an agent of gvmc's own
        // serves them; its socket and directory are gone after the build.
        #expect(Tools.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", ctx + "/rsa"]).status == 0)
        let tmp = ctx + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let keyFiles = GVMCBinary.run(["build", "--no-cache", "--ssh", "default=\(ctx)/key,\(ctx)/rsa", "--ssh", "other=\(ctx)/rsa", "-o", ctx + "/k.gvmi", ctx],
                                      env: ["TMPDIR": tmp])
        #expect(keyFiles.status == 0, "\(keyFiles.err)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/k.gvmi", "default.txt"]).output.contains("type=12 keys=2 "))
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/k.gvmi", "other.txt"]).output.contains("type=12 keys=1 "))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? ["?"]).isEmpty)
        #expect(Tools.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "secret", "-f", ctx + "/locked"]).status == 0)
        let locked = GVMCBinary.run(["build", "--ssh", "default=" + ctx + "/locked", "-o", ctx + "/l.gvmi", ctx])
        #expect(locked.status != 0 && locked.err.contains("passphrase-protected") && locked.err.contains("ssh-add"), "\(locked.err)")
    }

    /// The agent behind `--ssh ID=KEYFILE`, checked with OpenSSH's own tools: ssh-add lists the
    /// keys of every supported kind as ssh-keygen wrote them, and signatures it makes for
    /// `ssh-keygen -Y sign` verify with `ssh-keygen -Y verify` (ed25519, ECDSA P-256/P-521, RSA
    /// in OpenSSH and PEM format, rsa-sha2-512 as ssh-keygen asks).
    @Test(.enabled(if: Tools.exists("ssh-keygen") && Tools.exists("ssh-add"), "needs openssh-client (make test-deps)"))
    func sshKeyFilesSignAsOpenSSHExpects() throws {
        let dir = try BuildFixture.context("FROM scratch\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let kinds: [(String, [String])] = [("ed", ["-t", "ed25519"]), ("p256", ["-t", "ecdsa", "-b", "256"]), ("p521", ["-t", "ecdsa", "-b", "521"]),
                                           ("rsa", ["-t", "rsa", "-b", "3072"]), ("pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"])]
        for (name, args) in kinds {
            #expect(Tools.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", dir + "/" + name] + args).status == 0)
        }
        let keys = kinds.flatMap { ["--key", dir + "/" + $0.0] }
        let listed = GVMCBinary.run(["debug", "ssh-agent"] + keys + ["--", "ssh-add", "-L"])
        #expect(listed.status == 0, "\(listed.err)")
        let expected = kinds.map { (try? String(contentsOfFile: dir + "/" + $0.0 + ".pub", encoding: .utf8)) ?? "" }
            .map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
        #expect(listed.out.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == expected, "\(listed.out)")
        write(dir + "/data", "signed by gvmc's agent\n")
        for (name, _) in kinds {
            let sign = GVMCBinary.run(["debug", "ssh-agent", "--key", dir + "/" + name, "--", "ssh-keygen", "-Y", "sign", "-f", dir + "/" + name + ".pub", "-n", "file", dir + "/data"])
            #expect(sign.status == 0, "\(name): \(sign.err)")
            write(dir + "/allowed", "signer " + expected[kinds.firstIndex { $0.0 == name }!] + "\n")
            let verify = Tools.run(["sh", "-c", "ssh-keygen -Y verify -f \(dir)/allowed -I signer -n file -s \(dir)/data.sig < \(dir)/data"])
            #expect(verify.status == 0 && verify.output.contains("Good \"file\" signature"), "\(name): \(verify.output)")
            try? FileManager.default.removeItem(atPath: dir + "/data.sig")
        }
    }

    @Test func dockerBuildFlagsAreAccepted() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"true\"]\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let plain = GVMCBinary.run(["build", "--progress=plain", "--no-cache", "--network", "none", "-o", ctx + "/a.gvmi", ctx])
        #expect(plain.status == 0 && plain.err.contains("#0.2 RUN"), "\(plain.err)")
        let quiet = GVMCBinary.run(["build", "--progress", "quiet", "-o", ctx + "/b.gvmi", ctx])
        #expect(quiet.status == 0 && !quiet.err.contains("#0.") && quiet.out.contains("b.gvmi  size "), "\(quiet.err)")
        let bad = GVMCBinary.run(["build", "--progress", "fancy", "--network", "bridge", "-o", ctx + "/c.gvmi", ctx])
        #expect(bad.status != 0 && bad.err.contains("fancy"), "\(bad.err)")
    }

    /// The step cache: a step whose inputs are unchanged is not run again (its layer is
    /// stacked), and the image is the same bytes; a change re-runs that step and every later one.
    @Test func stepCacheReusesUnchangedStepsOnly() throws {
        let ctx = try BuildFixture.context("""
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
            let steps = r.err.split(separator: "\n").filter { $0.hasPrefix("#") }.map(String.init)
            func id(_ line: String) -> String { String(line.split(separator: " ")[0]) }
            return (steps.filter { $0.hasSuffix(" (cached)") }.map(id), steps.filter { !$0.hasSuffix(" (cached)") }.map(id), out)
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

    /// ADD of git repositories over smart HTTP, served by git's own `git http-backend`: the
    /// default branch, an annotated tag, a branch's subdirectory and a pinned commit (with
    /// --chown) hold exactly what `git archive` of the same refs holds (types, exec bits,
    /// symlinks, contents), times are the commit's, and the pinned source is cached (a branch
    /// is not, nor, as for any uncached step, what follows it).
    @Test(.enabled(if: Tools.exists("git") && Tools.exists("python3"), "needs git and python3"))
    func addGitRepositoriesAsGitArchivesThem() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let repo = dir + "/work"
        let env = "GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com"
        func git(_ args: String, date: Int = 1_700_000_000) {
            let r = Tools.run(["sh", "-c", "cd \(repo) && \(env) GIT_AUTHOR_DATE=@\(date) GIT_COMMITTER_DATE=@\(date) git \(args)"])
            #expect(r.status == 0, "git \(args): \(r.output)")
        }
        try FileManager.default.createDirectory(atPath: repo + "/dir/sub", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: repo + "/bin", withIntermediateDirectories: true)
        git("init -q -b main")
        write(repo + "/README", "hello\n")
        write(repo + "/bin/tool", "#!/bin/sh\necho tool\n")
        chmod(repo + "/bin/tool", 0o755)
        symlink("README", repo + "/link")
        write(repo + "/dir/sub/deep.txt", "deep\n")
        // Two similar large files: the server's pack stores one as a delta of the other.
        let big = (0..<4000).map { "line \($0) of a file that git will delta-compress\n" }.joined()
        write(repo + "/dir/a.txt", big)
        write(repo + "/dir/b.txt", big + "one more line\n")
        git("add -A")
        git("commit -q -m one")
        git("tag -a v1 -m release")
        let pinned = Tools.run(["git", "-C", repo, "rev-parse", "HEAD"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        write(repo + "/README", "hello again\n")
        git("commit -q -am two", date: 1_700_000_100)
        git("checkout -q -b feature")
        write(repo + "/dir/sub/feature.txt", "feature\n")
        git("add -A")
        git("commit -q -m three", date: 1_700_000_200)
        git("checkout -q main")
        #expect(Tools.run(["git", "clone", "-q", "--bare", repo, dir + "/served/repo.git"]).status == 0)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", RegistryFixture.fixtures + "/git_http.py", dir + "/served", dir + "/port"]
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }  // SIGTERM is blocked in the test process's children
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: dir + "/port") { usleep(50_000) }
        let url = "http://127.0.0.1:\((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "0")/repo.git"
        let ctx = try BuildFixture.context("""
            FROM scratch
            ADD --chown=5:6 \(url)#\(pinned) /src/pinned/
            ADD \(url) /src/main/
            ADD \(url)#v1 /src/v1
            ADD \(url)#feature:dir /src/featdir/
            """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func build() throws -> (image: String, cached: [Bool]) {
            let out = ctx + "/\(UUID().uuidString).gvmi"
            let r = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", out, ctx])
            try #require(r.status == 0, "\(r.err)")
            return (out, r.err.split(separator: "\n").filter { $0.hasPrefix("#0.") }.map { $0.hasSuffix("(cached)") })
        }
        let first = try build()
        #expect(first.cached == [false, false, false, false])
        #expect(Tools.run(["unsquashfs", "-q", "-d", ctx + "/x", first.image]).status == 0)
        func reference(_ ref: String, _ name: String) throws -> [String: EntrySnapshot] {
            let target = ctx + "/ref-" + name
            try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: true)
            #expect(Tools.run(["sh", "-c", "git -C \(repo) -c tar.umask=022 archive \(ref) | tar -x -C \(target)"]).status == 0)
            return try TreeSnapshot.take(target, mtimes: false)
        }
        func normalized(_ s: [String: EntrySnapshot], owner: (UInt32, UInt32) = (0, 0)) -> [String: EntrySnapshot] {
            s.filter { $0.key != "/" }.mapValues { e in
                var e = e
                if e.type == "dir" { e.size = 0 }
                e.uid = owner.0; e.gid = owner.1; e.mtime = 0
                return e
            }
        }
        let cases: [(String, String, String, (UInt32, UInt32))] = [("main", "main", "main", (0, 0)), ("v1", "v1", "v1", (0, 0)),
                                                                    ("feature:dir", "featdir", "featdir", (0, 0)), (pinned, "pinned", "pinned", (5, 6))]
        for (ref, name, sub, owner) in cases {
            let got = try TreeSnapshot.take(ctx + "/x/src/" + sub, mtimes: false)
            #expect(got.filter { $0.key != "/" }.values.allSatisfy { $0.uid == owner.0 && $0.gid == owner.1 }, "\(name): owners")
            let expected = try reference(ref, name)
            let diff = TreeSnapshot.diff(normalized(expected), normalized(got))
            #expect(diff.isEmpty, "\(name): \(diff.prefix(5))")
        }
        // Every time is the commit's committer time.
        let times = try TreeSnapshot.take(ctx + "/x/src/featdir")
        #expect(times.filter { $0.key != "/" }.values.allSatisfy { $0.mtime == 1_700_000_200 }, "\(times.values.map(\.mtime).prefix(3))")
        // Only the source pinned to a commit is known without fetching it.
        let second = try build()
        #expect(second.cached == [true, false, false, false], "\(second.cached)")
        // Errors name the line and what is wrong.
        let missing = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nADD \(url)#nope /x/\n")
        #expect(missing.status == 1 && missing.err.contains("<stdin>:2:1: ") && missing.err.contains("no branch or tag nope"), "\(missing.err)")
        let keep = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/k.gvmi", ctx], stdin: "FROM scratch\nADD --keep-git-dir=true \(url) /x/\n")
        #expect(keep.status == 1 && keep.err.contains("<stdin>:2:1: ") && keep.err.contains("keep-git-dir"), "\(keep.err)")
    }

    /// A stage of more steps than the overlay mount options have room for (about 60 layers at
    /// the cache's path length): with the kernel's layer-by-layer mount API every step is cached
    /// and the tree is whole; without it the steps past the limit run uncached, still correctly.
    @Test func longStagesAreCachedStepByStep() throws {
        let steps = (1...90).map { "WORKDIR /d\($0)" }.joined(separator: "\n")
        let ctx = try BuildFixture.context("""
            \(BuildFixture.toolsStage)
            FROM tools
            \(steps)
            RUN ls -d /d[0-9]* | wc -l > /count && echo $(cat /proc/sys/kernel/random/uuid) > /stamp
            """, files: [".dockerignore": "*.gvmi\ncache\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func build(_ n: Int) throws -> (cached: Int, ran: Int, image: String) {
            let r = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", ctx + "/\(n).gvmi", ctx])
            try #require(r.status == 0, "\(r.err)")
            let lines = r.err.split(separator: "\n").filter { $0.hasPrefix("#1.") }
            return (lines.filter { $0.hasSuffix("(cached)") }.count, lines.filter { !$0.hasSuffix("(cached)") }.count, ctx + "/\(n).gvmi")
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
        let ctx = try BuildFixture.context("""
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
            let r = GVMCBinary.run(["build", "--build-arg", "V=\(v)", "--cache-dir", cache, "-o", ctx + "/\(v).gvmi", ctx],
                                   env: ["GVMC_CACHE_KEEP_STORAGE": keep])
            try #require(r.status == 0, "\(r.err)")
            lastErr = r.err
            return r.err.split(separator: "\n").filter { $0.hasPrefix("#1.") }.map { $0.hasSuffix("(cached)") ? "cached" : "ran" }
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
        #expect(dry.status == 0 && dry.out.contains("Reclaimable: ") && dry.out.contains("in 2 entries") && dry.out.contains("2d ago"), "\(dry.out)")
        #expect(layers().count == 6, "a dry run removes nothing")
        #expect(prune(["--filter", "until=72h"]).out.contains("in 0 entries"))
        let old = prune(["--filter", "until=24h"])
        #expect(old.status == 0 && old.out.contains("in 2 entries") && layers() == layersB.union(layersA.filter { layers().contains($0) }) && layers().count == 4,
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
        #expect(lastErr.contains("cache: removed 1 least recently used entry") && layers().count == 3, "\(lastErr) \(layers())")
        // b's build redoes busybox's COPY, and then a's layers (less recent) and busybox go.
        #expect(try build("b", keep: "4M") == ["ran", "ran"])
        #expect(lastErr.contains("cache: removed 3 least recently used entries") && layers().count == 3, "\(lastErr) \(layers())")
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
        #expect(waited.status == 0 && waited.err.contains("waiting for the gvmc builds using") && Date().timeIntervalSince(started) > 1, "\(waited.err)")
        #expect(layers().isEmpty, "the slow build's layers, stored after the prune began waiting, are removed")
        #expect(prune(["--filter", "until=soon"]).status != 0 && prune(["--keep-storage", "lots"]).status != 0)
    }

    /// COPY --link as BuildKit defines it: the files go into a layer of their own, so the
    /// destination is not resolved through the stage's symlinks and directories made on the way
    /// are new (0755, root's); the layer is reused when steps before it change.
    @Test func copyLinkCopiesIntoALayerOfItsOwn() throws {
        let ctx = try BuildFixture.context("""
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
        let lines = second.err.split(separator: "\n").filter { $0.hasPrefix("#1.") }
        #expect(lines.map { $0.hasSuffix("(cached)") } == [false, true, true, false, false], "\(lines)")
        let list = Tools.run(["unsquashfs", "-lln", ctx + "/2.gvmi"]).output
        func entry(_ path: String) -> String? {
            list.split(separator: "\n").first { $0.hasSuffix(" squashfs-root" + path) || $0.contains(" squashfs-root" + path + " -> ") }.map(String.init)
        }
        #expect(entry("/linkdir")?.hasPrefix("drwxr-xr-x 0/0") == true, "the symlink is replaced by the layer's directory: \(entry("/linkdir") ?? "-")")
        #expect(entry("/linkdir/a") != nil)
        #expect(entry("/plainlink")?.hasPrefix("lrwxrwxrwx") == true && entry("/real/a") != nil, "without --link the symlink is followed")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/2.gvmi", "real-list"]).output == "a\n")
        #expect(entry("/app")?.hasPrefix("drwxr-xr-x 0/0") == true && entry("/app/data/a") != nil, "\(entry("/app") ?? "-")")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/2.gvmi", "v"]).output == "2\n")
    }

    @Test func addDownloadsURLsWithChecksums() throws {
        let ctx = try BuildFixture.context("", files: ["srv/file.txt": "downloaded content\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        // A real HTTP server on a free loopback port (Python's http.server sends Last-Modified).
        let port = Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", "-m", "http.server", port, "--bind", "127.0.0.1", "--directory", ctx + "/srv"]
        server.standardOutput = FileHandle.nullDevice
        server.standardError = FileHandle.nullDevice
        try server.run()
        defer { kill(server.processIdentifier, SIGKILL); server.waitUntilExit() }
        for _ in 0..<50 where Tools.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status != 0 { usleep(100_000) }
        utimes(ctx + "/srv/file.txt", [timeval(tv_sec: 1_600_000_000, tv_usec: 0), timeval(tv_sec: 1_600_000_000, tv_usec: 0)])
        let sum = String(Tools.run(["sha256sum", ctx + "/srv/file.txt"]).output.prefix(64))
        let url = "http://127.0.0.1:\(port)/file.txt"
        try FileManager.default.createDirectory(atPath: ctx + "/tree/inner", withIntermediateDirectories: true)
        write(ctx + "/tree/inner/a.txt", "in the archive\n")
        #expect(Tools.run(["tar", "-czf", ctx + "/srv/arch.tar.gz", "-C", ctx + "/tree", "."]).status == 0)
        #expect(Tools.run(["cp", ctx + "/srv/arch.tar.gz", ctx + "/local.tar.gz"]).status == 0)
        write(ctx + "/Dockerfile", """
            FROM scratch
            ADD \(url) /dl/
            ADD --checksum=sha256:\(sum) --chmod=644 \(url) /dl/renamed.txt
            ADD http://127.0.0.1:\(port)/arch.tar.gz /remote-kept/
            ADD --unpack=true http://127.0.0.1:\(port)/arch.tar.gz /remote-unpacked/
            ADD --unpack=false local.tar.gz /local-kept/
            """)
        let r = GVMCBinary.run(["build", "-o", ctx + "/o.gvmi", ctx])
        #expect(r.status == 0, "\(r.err)")
        let list = Tools.run(["unsquashfs", "-lln", "-UTC", ctx + "/o.gvmi"]).output
        #expect(list.contains("squashfs-root/remote-kept/arch.tar.gz") && list.contains("squashfs-root/remote-unpacked/inner/a.txt")
                && list.contains("squashfs-root/local-kept/local.tar.gz") && !list.contains("squashfs-root/local-kept/inner"),
                "remote archives are kept unless --unpack=true, local ones unpacked unless --unpack=false:\n\(list)")
        #expect(list.contains("-rw------- 0/0                      19 2020-09-13 12:26 squashfs-root/dl/file.txt"), "mode 0600 and Last-Modified:\n\(list)")
        #expect(list.contains("-rw-r--r-- 0/0") && list.contains("squashfs-root/dl/renamed.txt"))
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/o.gvmi", "dl/file.txt"]).output == "downloaded content\n")
        let wrong = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/w.gvmi", ctx],
                                   stdin: "FROM scratch\nADD --checksum=sha256:\(String(repeating: "0", count: 64)) \(url) /x\n")
        #expect(wrong.status == 1 && wrong.err.contains("<stdin>:2:1: ADD \(url): checksum mismatch"), "\(wrong.err)")
        let tls = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/t.gvmi", ctx], stdin: "FROM scratch\nADD https://127.0.0.1:\(port)/file.txt /x\n")
        #expect(tls.status == 1 && tls.err.contains("<stdin>:2:1: ADD https://127.0.0.1:\(port)/file.txt") && !tls.err.contains("attempts"),
                "a TLS failure is final, not retried: \(tls.err)")
        let missing = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nADD http://127.0.0.1:\(port)/nope /x\n")
        #expect(missing.status == 1 && missing.err.contains("HTTP 404"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/w.gvmi") && !FileManager.default.fileExists(atPath: ctx + "/m.gvmi"))
    }
}
