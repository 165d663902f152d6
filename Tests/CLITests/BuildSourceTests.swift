// gvmc build, what comes from outside the context: SSH agents and key files, git repositories,
// http(s) URLs (tests of the serialized BuildCommand suite).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension BuildCommand {
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
