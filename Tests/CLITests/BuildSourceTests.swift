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
    @Test(
        .enabled(
            if: Tools.exists("ssh-agent") && Tools.exists("ssh-keygen") && Tools.exists("clang"),
            "needs openssh-client (make test-deps) and clang (the Swift toolchain's)"))
    func sshMountsForwardTheAgent() throws {
        let ctx = try BuildFixture.context(
            """
            FROM scratch
            COPY busybox /bin/busybox
            COPY agentc /agentc
            RUN --mount=type=ssh ["/agentc", "", "/default.txt"]
            RUN --mount=type=ssh,id=other,target=/tmp/sock,uid=1000,mode=0660 ["/agentc", "/tmp/sock", "/other.txt"]
            RUN --mount=type=ssh,id=absent ["/bin/busybox", "sh", "-c", "echo [$SSH_AUTH_SOCK] > /absent.txt; /bin/busybox ls /run/buildkit 2>/dev/null | /bin/busybox wc -l >> /absent.txt"]
            """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        write(
            ctx + "/agentc.c",
            """
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
        let required = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/r.gvmi", ctx],
            stdin: "FROM scratch\nCOPY busybox /bin/busybox\nRUN --mount=type=ssh,required [\"/bin/busybox\", \"true\"]\n")
        #expect(
            required.status == 1 && required.err.contains("<stdin>:3:1: ssh agent default is required but was not given"), "\(required.err)"
        )
        // Key files (docker build's --ssh default=~/.ssh/id_ed25519): an agent of gvmc's own
        // serves them; its socket and directory are gone after the build.
        #expect(Tools.run(["ssh-keygen", "-q", "-t", "rsa", "-b", "3072", "-N", "", "-f", ctx + "/rsa"]).status == 0)
        let tmp = ctx + "/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let keyFiles = GVMCBinary.run(
            ["build", "--no-cache", "--ssh", "default=\(ctx)/key,\(ctx)/rsa", "--ssh", "other=\(ctx)/rsa", "-o", ctx + "/k.gvmi", ctx],
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
        let kinds: [(String, [String])] = [
            ("ed", ["-t", "ed25519"]), ("p256", ["-t", "ecdsa", "-b", "256"]), ("p521", ["-t", "ecdsa", "-b", "521"]),
            ("rsa", ["-t", "rsa", "-b", "3072"]), ("pem", ["-t", "rsa", "-b", "2048", "-m", "PEM"])
        ]
        for (name, args) in kinds {
            #expect(Tools.run(["ssh-keygen", "-q", "-N", "", "-C", name, "-f", dir + "/" + name] + args).status == 0)
        }
        let keys = kinds.flatMap { ["--key", dir + "/" + $0.0] }
        let listed = GVMCBinary.run(["debug", "ssh-agent"] + keys + ["--", "ssh-add", "-L"])
        #expect(listed.status == 0, "\(listed.err)")
        let expected = kinds.map { (try? String(contentsOfFile: dir + "/" + $0.0 + ".pub", encoding: .utf8)) ?? "" }
            .map { $0.split(separator: " ").prefix(2).joined(separator: " ") }
        #expect(
            listed.out.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: " ") } == expected, "\(listed.out)"
        )
        write(dir + "/data", "signed by gvmc's agent\n")
        for (name, _) in kinds {
            let sign = GVMCBinary.run([
                "debug", "ssh-agent", "--key", dir + "/" + name, "--", "ssh-keygen", "-Y", "sign", "-f", dir + "/" + name + ".pub", "-n",
                "file", dir + "/data"
            ])
            #expect(sign.status == 0, "\(name): \(sign.err)")
            write(dir + "/allowed", "signer " + expected[kinds.firstIndex { $0.0 == name }!] + "\n")
            let verify = Tools.run(["sh", "-c", "ssh-keygen -Y verify -f \(dir)/allowed -I signer -n file -s \(dir)/data.sig < \(dir)/data"]
            )
            #expect(verify.status == 0 && verify.output.contains("Good \"file\" signature"), "\(name): \(verify.output)")
            try? FileManager.default.removeItem(atPath: dir + "/data.sig")
        }
    }

    /// ADD of git repositories over smart HTTP, served by git's own `git http-backend`: the
    /// default branch, an annotated tag, a branch's subdirectory and a pinned commit (with
    /// --chown) hold exactly what `git archive` of the same refs holds (types, exec bits,
    /// symlinks, contents), times are the commit's; --keep-git-dir leaves a repository git
    /// itself finds clean and consistent; every step is cached while the refs stay put, and a
    /// branch that moves is fetched again.
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
        // A branch with a submodule (a relative URL, as most repositories write it).
        let lib = dir + "/lib"
        try FileManager.default.createDirectory(atPath: lib + "/inc", withIntermediateDirectories: true)
        write(lib + "/inc/lib.h", "int lib(void);\n")
        let inLib = "cd \(lib) && \(env) GIT_AUTHOR_DATE=@1600000000 GIT_COMMITTER_DATE=@1600000000 git"
        #expect(Tools.run(["sh", "-c", "\(inLib) init -q -b main && \(inLib) add -A && \(inLib) commit -q -m lib"]).status == 0)
        let libHead = Tools.run(["git", "-C", lib, "rev-parse", "HEAD"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        git("checkout -q -b withsub main")
        write(repo + "/.gitmodules", "[submodule \"lib\"]\n\tpath = vendor/lib\n\turl = ../lib.git\n")
        git("add .gitmodules")
        git("update-index --add --cacheinfo 160000,\(libHead),vendor/lib")
        git("commit -q -m submodule", date: 1_700_000_250)
        git("checkout -q main")
        #expect(Tools.run(["git", "clone", "-q", "--bare", repo, dir + "/served/repo.git"]).status == 0)
        #expect(Tools.run(["git", "clone", "-q", "--bare", lib, dir + "/served/lib.git"]).status == 0)
        #expect(Tools.run(["git", "clone", "-q", "--bare", repo, dir + "/served/private/repo.git"]).status == 0)
        let server = try GitHTTPServer(root: dir + "/served", token: "s3cret-token")
        defer { server.stop() }
        let url = server.base + "/repo.git"
        let ctx = try BuildFixture.context(
            """
            FROM scratch
            ADD --chown=5:6 \(url)#\(pinned) /src/pinned/
            ADD \(url) /src/main/
            ADD \(url)#v1 /src/v1
            ADD \(url)#feature:dir /src/featdir/
            ADD --keep-git-dir=true \(url)#v1 /kept/tag/
            ADD --keep-git-dir=true \(url) /kept/main/
            ADD --keep-git-dir=true \(url)#feature:dir /kept/featdir/
            ADD \(url)#withsub /src/withsub/
            """)
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func build() throws -> (image: String, cached: [Bool]) {
            let out = ctx + "/\(UUID().uuidString).gvmi"
            let r = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", out, ctx])
            try #require(r.status == 0, "\(r.err)")
            return (out, builtSteps(r.err).filter { $0.id.hasPrefix("#0.") }.map(\.cached))
        }
        let first = try build()
        #expect(first.cached == [false, false, false, false, false, false, false, false])
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
        let cases: [(String, String, String, (UInt32, UInt32))] = [
            ("main", "main", "main", (0, 0)), ("v1", "v1", "v1", (0, 0)),
            ("feature:dir", "featdir", "featdir", (0, 0)), (pinned, "pinned", "pinned", (5, 6))
        ]
        for (ref, name, sub, owner) in cases {
            let got = try TreeSnapshot.take(ctx + "/x/src/" + sub, mtimes: false)
            #expect(got.filter { $0.key != "/" }.values.allSatisfy { $0.uid == owner.0 && $0.gid == owner.1 }, "\(name): owners")
            let expected = try reference(ref, name)
            let diff = TreeSnapshot.diff(normalized(expected), normalized(got))
            #expect(diff.isEmpty, "\(name): \(diff.prefix(5))")
        }
        // The submodule is checked out at the commit the branch records, with its own time.
        _ = try reference("withsub", "withsub")
        #expect(
            Tools.run([
                "sh", "-c",
                "mkdir -p \(ctx)/ref-withsub/vendor/lib && git -C \(lib) -c tar.umask=022 archive main | tar -x -C \(ctx)/ref-withsub/vendor/lib"
            ]).status == 0)
        let withSub = try TreeSnapshot.take(ctx + "/ref-withsub", mtimes: false)
        let gotSub = try TreeSnapshot.take(ctx + "/x/src/withsub")
        #expect(
            TreeSnapshot.diff(normalized(withSub), normalized(gotSub)).isEmpty,
            "\(TreeSnapshot.diff(normalized(withSub), normalized(gotSub)).prefix(5))")
        #expect(gotSub["/vendor/lib/inc/lib.h"]?.mtime == 1_600_000_000 && gotSub["/README"]?.mtime == 1_700_000_250)
        // Every time is the commit's committer time.
        let times = try TreeSnapshot.take(ctx + "/x/src/featdir")
        #expect(times.filter { $0.key != "/" }.values.allSatisfy { $0.mtime == 1_700_000_200 }, "\(times.values.map(\.mtime).prefix(3))")
        // --keep-git-dir: git finds a clean, consistent shallow repository at the commit, with
        // the fetched tag or branch as a local ref and origin set to the URL.
        func inKept(_ sub: String, _ args: String) -> (status: Int32, output: String) {
            let r = Tools.run(["sh", "-c", "cd \(ctx)/x/kept/\(sub) && git -c safe.directory='*' \(args) 2>&1"])
            return (r.status, r.output.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let mainHead = Tools.run(["git", "-C", repo, "rev-parse", "main"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        for (sub, head) in [("tag", pinned), ("main", mainHead)] {
            #expect(inKept(sub, "rev-parse HEAD").output == head, "\(sub): HEAD")
            #expect(inKept(sub, "status --porcelain") == (0, ""), "\(sub): \(inKept(sub, "status --porcelain"))")
            #expect(inKept(sub, "fsck --no-progress --strict").status == 0, "\(sub): \(inKept(sub, "fsck --no-progress --strict"))")
            #expect(inKept(sub, "log --format=%H") == (0, head), "\(sub): one commit, its parents cut off (shallow)")
            #expect(inKept(sub, "config remote.origin.url").output == url)
            #expect(inKept(sub, "rev-parse --is-shallow-repository").output == "true", "\(sub): shallow, as git's own --depth=1 leaves it")
            let verify = inKept(sub, "verify-pack -v .git/objects/pack/*.idx")
            #expect(verify.status == 0 && verify.output.contains("ok"), "\(sub): \(verify.output.suffix(300))")
        }
        #expect(inKept("tag", "describe --tags --dirty").output == "v1")
        #expect(inKept("tag", "cat-file -t refs/tags/v1").output == "tag")
        #expect(inKept("main", "rev-parse refs/heads/main").output == mainHead)
        #expect(inKept("main", "symbolic-ref -q HEAD").status != 0, "HEAD is detached, as BuildKit leaves it")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/x/kept/featdir/.git"), "a subdirectory keeps no .git (BuildKit)")
        // The same tree as without --keep-git-dir, plus .git.
        let keptTree = try TreeSnapshot.take(ctx + "/x/kept/tag", mtimes: false).filter { !$0.key.hasPrefix("/.git") }
        #expect(TreeSnapshot.diff(normalized(try TreeSnapshot.take(ctx + "/x/src/v1", mtimes: false)), normalized(keptTree)).isEmpty)
        // While no ref moves, every step is cached: the ref is resolved to its commit for the key.
        let second = try build()
        #expect(second.cached == [true, true, true, true, true, true, true, true], "\(second.cached)")
        // A new commit on main: the default-branch step and those after it run again.
        write(repo + "/README", "hello three\n")
        git("commit -q -am four", date: 1_700_000_300)
        #expect(Tools.run(["git", "-C", repo, "push", "-q", dir + "/served/repo.git", "main"]).status == 0)
        let third = try build()
        #expect(third.cached == [true, false, false, false, false, false, false, false], "\(third.cached)")
        #expect(Tools.run(["unsquashfs", "-cat", third.image, "src/main/README"]).output == "hello three\n")
        #expect(Tools.run(["unsquashfs", "-cat", third.image, "src/v1/README"]).output == "hello\n")
        // Errors name the line and what is wrong.
        let missing = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nADD \(url)#nope /x/\n")
        #expect(
            missing.status == 1 && missing.err.contains("<stdin>:2:1: ") && missing.err.contains("no branch or tag nope"), "\(missing.err)")
        // A private repository: credentials come from the GIT_AUTH_TOKEN.<host> build secret
        // (BuildKit's name) and land nowhere in the image.
        let host = String(url.dropFirst("http://".count).prefix { $0 != "/" })
        let privateURL = url.replacingOccurrences(of: "/repo.git", with: "/private/repo.git")
        let privateFile = "FROM scratch\nADD --keep-git-dir=true \(privateURL)#v1 /p/\n"
        let denied = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/p.gvmi", ctx], stdin: privateFile)
        #expect(
            denied.status == 1 && denied.err.contains("<stdin>:2:1: ") && denied.err.contains("HTTP 401")
                && denied.err.contains("--secret id=GIT_AUTH_TOKEN.\(host),env=TOKEN"), "\(denied.err)")
        write(ctx + "/token", "s3cret-token\n")
        write(ctx + "/wrong", "guess\n")
        let refused = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/p.gvmi", "--secret", "id=GIT_AUTH_TOKEN,src=\(ctx)/wrong", ctx], stdin: privateFile)
        #expect(refused.status == 1 && refused.err.contains("refused the credentials"), "\(refused.err)")
        let allowed = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/p.gvmi", "--secret", "id=GIT_AUTH_TOKEN.\(host),src=\(ctx)/token", ctx],
            stdin: privateFile)
        #expect(allowed.status == 0, "\(allowed.err)")
        #expect(Tools.run(["unsquashfs", "-q", "-d", ctx + "/p", ctx + "/p.gvmi"]).status == 0)
        #expect(Tools.run(["git", "-C", ctx + "/p/p", "-c", "safe.directory=*", "rev-parse", "HEAD"]).output.hasPrefix(pinned))
        #expect(Tools.run(["grep", "-r", "-l", "s3cret", ctx + "/p"]).output.isEmpty, "the token is not in the image")
    }

    /// ADD over SSH against OpenSSH's own sshd on loopback, signing in with the build's agent
    /// (`--ssh default=KEYS`: an unauthorized ed25519 key first, then the authorized RSA key,
    /// signed as rsa-sha2-512): the files arrive; known_hosts is honoured in its plain and hashed
    /// forms and a changed host key is refused; an RSA-only server works too; a missing agent or
    /// key is a clear error.
    @Test(
        .enabled(
            if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") && Tools.exists("git"),
            "needs root, git and sshd (openssh-server)"))
    func addGitOverSSHSignsInWithTheAgent() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let port = Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
            .output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let setup = Tools.run([
            "sh", "-c",
            """
            set -e; cd \(dir); mkdir -p /run/sshd home/.ssh
            ssh-keygen -q -t ed25519 -N '' -f host; ssh-keygen -q -t ed25519 -N '' -f other_host; ssh-keygen -q -t rsa -b 2048 -N '' -f host_rsa
            ssh-keygen -q -t ed25519 -N '' -f client; ssh-keygen -q -t rsa -b 2048 -N '' -f client_rsa
            cp client_rsa.pub authorized_keys
            git init -q -b main w; cd w; echo over ssh > README; mkdir -p bin; printf '#!/bin/sh\n' > bin/run; chmod 755 bin/run
            git add -A; git -c user.name=t -c user.email=t@e commit -q -m one; git tag v1; echo two > README
            git -c user.name=t -c user.email=t@e commit -q -am two; cd ..; git clone -q --bare w served/repo.git
            printf 'Port \(port)\nListenAddress 127.0.0.1\nHostKey \(dir)/host\nAuthorizedKeysFile \(dir)/authorized_keys\nStrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nPidFile \(dir)/sshd.pid\n' > sshd_config
            """
        ])
        try #require(setup.status == 0, "\(setup.output)")
        // sshd as a daemon of its own (run by Foundation's Process, its forks for each
        // connection stall Process's child monitoring); stopped through its pid file.
        try #require(Tools.run(["/usr/sbin/sshd", "-f", dir + "/sshd_config"]).status == 0)
        // A second server with only an RSA host key (Azure DevOps and older servers offer no other).
        let rsaPort = Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
            .output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        let rsaConfig = try String(contentsOfFile: dir + "/sshd_config", encoding: .utf8)
            .replacingOccurrences(of: "Port \(port)", with: "Port \(rsaPort)").replacingOccurrences(
                of: "HostKey \(dir)/host\n", with: "HostKey \(dir)/host_rsa\n"
            )
            .replacingOccurrences(of: "sshd.pid", with: "sshd_rsa.pid")
        write(dir + "/sshd_rsa_config", rsaConfig)
        try #require(Tools.run(["/usr/sbin/sshd", "-f", dir + "/sshd_rsa_config"]).status == 0)
        defer {
            for file in ["sshd.pid", "sshd_rsa.pid"] {
                if let pid = (try? String(contentsOfFile: dir + "/" + file, encoding: .utf8)).flatMap({
                    Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }) {
                    kill(pid, SIGKILL)
                }
            }
        }
        for _ in 0..<100 where Tools.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status != 0 { usleep(50_000) }
        let url = "ssh://root@127.0.0.1:\(port)\(dir)/served/repo.git"
        let ctx = try BuildFixture.context("FROM scratch\nADD \(url) /src/\nADD \(url)#v1 /v1/\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let keys = "default=\(dir)/client,\(dir)/client_rsa"
        func build(_ ssh: String?) -> (status: Int32, out: String, err: String) {
            GVMCBinary.run(
                ["build", "--no-cache", "-o", ctx + "/o.gvmi"] + (ssh.map { ["--ssh", $0] } ?? []) + [ctx], env: ["HOME": dir + "/home"])
        }
        // An unknown host is accepted (as BuildKit runs ssh: StrictHostKeyChecking=no).
        let first = build(keys)
        try #require(first.status == 0, "\(first.err)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/o.gvmi", "src/README"]).output == "two\n")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/o.gvmi", "v1/README"]).output == "over ssh\n")
        #expect(Tools.run(["unsquashfs", "-lln", ctx + "/o.gvmi", "src/bin/run"]).output.contains("-rwxr-xr-x 0/0"))
        // known_hosts with the server's key, plain then hashed: accepted; with another key: refused.
        let hostKey = try String(contentsOfFile: dir + "/host.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let otherKey = try String(contentsOfFile: dir + "/other_host.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(
            separator: " ")
        let knownHosts = dir + "/home/.ssh/known_hosts"
        write(knownHosts, "[127.0.0.1]:\(port) \(hostKey)\n")
        #expect(build(keys).status == 0)
        #expect(Tools.run(["ssh-keygen", "-q", "-H", "-f", knownHosts]).status == 0)
        #expect(try String(contentsOfFile: knownHosts, encoding: .utf8).hasPrefix("|1|"))
        #expect(build(keys).status == 0, "a hashed known_hosts entry")
        write(knownHosts, "[127.0.0.1]:\(port) \(otherKey)\n")
        let changed = build(keys)
        #expect(
            changed.status == 1 && changed.err.contains("<stdin>") == false && changed.err.contains(":2:1: ")
                && changed.err.contains("is not the one") && changed.err.contains("known_hosts:1"), "\(changed.err)")
        try FileManager.default.removeItem(atPath: knownHosts)
        // The RSA-only server: its rsa-sha2-512 signature verifies, and known_hosts applies to it.
        let rsaURL = "ssh://root@127.0.0.1:\(rsaPort)\(dir)/served/repo.git"
        for _ in 0..<100 where Tools.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(rsaPort)"]).status != 0 { usleep(50_000) }
        let rsaKey = try String(contentsOfFile: dir + "/host_rsa.pub", encoding: .utf8).split(separator: " ").prefix(2).joined(
            separator: " ")
        write(knownHosts, "[127.0.0.1]:\(rsaPort) \(rsaKey)\n")
        let viaRSA = GVMCBinary.run(
            ["build", "--no-cache", "-f", "-", "-o", ctx + "/r.gvmi", "--ssh", keys, ctx],
            stdin: "FROM scratch\nADD \(rsaURL)#v1 /x/\n", env: ["HOME": dir + "/home"])
        #expect(viaRSA.status == 0, "\(viaRSA.err)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/r.gvmi", "x/README"]).output == "over ssh\n")
        try FileManager.default.removeItem(atPath: knownHosts)
        // No agent, or an agent whose key the server does not accept.
        let noAgent = build(nil)
        #expect(noAgent.status == 1 && noAgent.err.contains("--ssh default"), "\(noAgent.err)")
        let refused = build("default=\(dir)/client")
        #expect(refused.status == 1 && refused.err.contains("permission denied"), "\(refused.err)")
        // A path the server has no repository at: git-upload-pack's own message.
        let missing = GVMCBinary.run(
            ["build", "--no-cache", "-f", "-", "-o", ctx + "/m.gvmi", "--ssh", keys, ctx],
            stdin: "FROM scratch\nADD ssh://root@127.0.0.1:\(port)/nowhere/repo.git /x/\n", env: ["HOME": dir + "/home"])
        #expect(
            missing.status == 1 && missing.err.contains("<stdin>:2:1: ") && missing.err.contains("does not appear to be a git repository"),
            "\(missing.err)")
    }

    /// A hostile repository cannot write outside the checkout: a tree holding both a symlink
    /// `a` (to a host directory) and a directory `a` — which git itself never writes and git
    /// fsck refuses — is an error naming the tree, and nothing appears on the host.
    @Test(.enabled(if: Tools.exists("git") && Tools.exists("python3"), "needs git and python3"))
    func addGitRefusesTreesThatWriteThroughSymlinks() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/outside", withIntermediateDirectories: true)
        #expect(Tools.run(["git", "init", "-q", "--bare", dir + "/served/evil.git"]).status == 0)
        let forge = Tools.run([
            "python3", "-c",
            """
            import os, subprocess, sys
            g, target = sys.argv[1], sys.argv[2]
            env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@e", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@e")
            def put(kind, data):
                return subprocess.run(["git", "--git-dir", g, "hash-object", "--literally", "-w", "-t", kind, "--stdin"],
                                      input=data, capture_output=True, check=True).stdout.strip().decode()
            inner = put("tree", b"100644 x\\0" + bytes.fromhex(put("blob", b"pwned\\n")))
            outer = put("tree", b"120000 a\\0" + bytes.fromhex(put("blob", target.encode())) + b"40000 a\\0" + bytes.fromhex(inner))
            commit = subprocess.run(["git", "--git-dir", g, "commit-tree", outer, "-m", "evil"], capture_output=True, check=True, env=env).stdout.strip().decode()
            subprocess.run(["git", "--git-dir", g, "update-ref", "refs/heads/main", commit], check=True)
            subprocess.run(["git", "--git-dir", g, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
            """, dir + "/served/evil.git", dir + "/outside"
        ])
        try #require(forge.status == 0, "\(forge.output)")
        let server = try GitHTTPServer(root: dir + "/served")
        defer { server.stop() }
        let r = GVMCBinary.run(
            ["build", "--no-cache", "-f", "-", "-o", dir + "/o.gvmi", dir], stdin: "FROM scratch\nADD \(server.base)/evil.git /src/\n")
        #expect(r.status == 1 && r.err.contains("<stdin>:2:1: ") && r.err.contains("has the entry \"a\" twice"), "\(r.err)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: dir + "/outside")) == [], "nothing written through the symlink")
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.gvmi"))
    }

    /// A repository's pack goes to disk, not memory: ADD of a 40 MB repository (incompressible
    /// files) peaks at about the resident memory of a COPY of the same files, far below the
    /// pack's size, and the files arrive intact.
    @Test(.enabled(if: Tools.exists("git") && Tools.exists("python3"), "needs git and python3"))
    func addGitKeepsThePackOnDiskNotInMemory() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let setup = Tools.run([
            "sh", "-c",
            """
            cd \(dir) && git init -q -b main w && cd w && for i in $(seq 1 16); do head -c 2500000 /dev/urandom > f$i.bin; done &&
            git add -A && git -c user.name=t -c user.email=t@e commit -q -m big && cd .. && git clone -q --bare w served/repo.git &&
            mkdir copy && cp w/*.bin copy/
            """
        ])
        try #require(setup.status == 0, "\(setup.output)")
        let server = try GitHTTPServer(root: dir + "/served")
        defer { server.stop() }
        let url = server.base + "/repo.git"
        try FileManager.default.createDirectory(atPath: dir + "/git", withIntermediateDirectories: true)
        write(dir + "/git/Dockerfile", "FROM scratch\nADD \(url) /src/\n")
        write(dir + "/copy/Dockerfile", "FROM scratch\nCOPY . /src/\n")
        /// gvmc's peak resident memory in MiB (getrusage of python's only child).
        func peak(_ context: String) throws -> Double {
            let r = Tools.run([
                "python3", "-c",
                "import resource,subprocess,sys; r=subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                    + "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
                GVMCBinary.path, "build", "--no-cache", "--cache-dir", dir + "/cache", "-o", context + ".gvmi", context
            ])
            let fields = r.output.split(separator: " ")
            try #require(fields.count == 2 && fields[0] == "0", "\(r.output)")
            return (Double(fields[1].trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0) / 1024
        }
        let copied = try peak(dir + "/copy"), fetched = try peak(dir + "/git")
        let pack = Double(
            Tools.run(["du", "-sm", dir + "/served/repo.git"]).output.split(separator: "\t").first.flatMap { Double($0) } ?? 0)
        #expect(pack >= 38, "\(pack) MiB")
        #expect(
            fetched < copied + pack / 2,
            "ADD of git peaked at \(fetched) MiB, COPY of the same files at \(copied) MiB, the pack is \(pack) MiB")
        #expect(Tools.run(["sh", "-c", "unsquashfs -cat \(dir)/git.gvmi src/f9.bin | cmp - \(dir)/w/f9.bin"]).status == 0)
    }

    @Test func addDownloadsURLsWithChecksums() throws {
        let ctx = try BuildFixture.context("", files: ["srv/file.txt": "downloaded content\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        // A real HTTP server on a free loopback port (Python's http.server sends Last-Modified).
        let port = Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
            .output
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
        // BuildKit also takes sha384 and sha512 (a sha512 was reported as a mismatch).
        let sum512 = String(Tools.run(["sha512sum", ctx + "/srv/file.txt"]).output.prefix(128))
        let sum384 = String(Tools.run(["sha384sum", ctx + "/srv/file.txt"]).output.prefix(96))
        let url = "http://127.0.0.1:\(port)/file.txt"
        try FileManager.default.createDirectory(atPath: ctx + "/tree/inner", withIntermediateDirectories: true)
        write(ctx + "/tree/inner/a.txt", "in the archive\n")
        #expect(Tools.run(["tar", "-czf", ctx + "/srv/arch.tar.gz", "-C", ctx + "/tree", "."]).status == 0)
        #expect(Tools.run(["cp", ctx + "/srv/arch.tar.gz", ctx + "/local.tar.gz"]).status == 0)
        write(
            ctx + "/Dockerfile",
            """
            FROM scratch
            ADD \(url) /dl/
            ADD --checksum=sha256:\(sum) --chmod=644 \(url) /dl/renamed.txt
            ADD --checksum=sha512:\(sum512) \(url) /dl/by-sha512.txt
            ADD --checksum=sha384:\(sum384) \(url) /dl/by-sha384.txt
            ADD http://127.0.0.1:\(port)/arch.tar.gz /remote-kept/
            ADD --unpack=true http://127.0.0.1:\(port)/arch.tar.gz /remote-unpacked/
            ADD --unpack=false local.tar.gz /local-kept/
            """)
        let r = GVMCBinary.run(["build", "-o", ctx + "/o.gvmi", ctx])
        #expect(r.status == 0, "\(r.err)")
        let list = Tools.run(["unsquashfs", "-lln", "-UTC", ctx + "/o.gvmi"]).output
        #expect(
            list.contains("squashfs-root/remote-kept/arch.tar.gz") && list.contains("squashfs-root/remote-unpacked/inner/a.txt")
                && list.contains("squashfs-root/local-kept/local.tar.gz") && !list.contains("squashfs-root/local-kept/inner"),
            "remote archives are kept unless --unpack=true, local ones unpacked unless --unpack=false:\n\(list)")
        #expect(
            list.contains("-rw------- 0/0                      19 2020-09-13 12:26 squashfs-root/dl/file.txt"),
            "mode 0600 and Last-Modified:\n\(list)")
        #expect(list.contains("-rw-r--r-- 0/0") && list.contains("squashfs-root/dl/renamed.txt"))
        #expect(list.contains("squashfs-root/dl/by-sha512.txt") && list.contains("squashfs-root/dl/by-sha384.txt"), "\(list)")
        #expect(Tools.run(["unsquashfs", "-cat", ctx + "/o.gvmi", "dl/file.txt"]).output == "downloaded content\n")
        let wrong = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/w.gvmi", ctx],
            stdin: "FROM scratch\nADD --checksum=sha256:\(String(repeating: "0", count: 64)) \(url) /x\n")
        #expect(wrong.status == 1 && wrong.err.contains("<stdin>:2:1: ADD \(url): checksum mismatch"), "\(wrong.err)")
        // A malformed value is an error at its line, found before anything is fetched (not a
        // mismatch after the download).
        for bad in ["sha256:xyz", "md5:\(String(repeating: "0", count: 32))", "sha512:\(String(repeating: "A", count: 128))", "sha256"] {
            let malformed = GVMCBinary.run(
                ["build", "--no-cache", "-f", "-", "-o", ctx + "/m.gvmi", ctx],
                stdin: "FROM scratch\nADD --checksum=\(bad) \(url)?never /x\n")
            #expect(
                malformed.status == 1 && malformed.err.contains("<stdin>:2:")
                    && malformed.err.contains(": ADD --checksum=\(bad): not a digest"), "\(malformed.err)")
        }
        let tls = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/t.gvmi", ctx], stdin: "FROM scratch\nADD https://127.0.0.1:\(port)/file.txt /x\n")
        #expect(
            tls.status == 1 && tls.err.contains("<stdin>:2:1: ADD https://127.0.0.1:\(port)/file.txt") && !tls.err.contains("attempts"),
            "a TLS failure is final, not retried: \(tls.err)")
        let missing = GVMCBinary.run(
            ["build", "-f", "-", "-o", ctx + "/m.gvmi", ctx], stdin: "FROM scratch\nADD http://127.0.0.1:\(port)/nope /x\n")
        #expect(missing.status == 1 && missing.err.contains("HTTP 404"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: ctx + "/w.gvmi") && !FileManager.default.fileExists(atPath: ctx + "/m.gvmi"))
    }
}

/// git's own server side (`git http-backend`) behind Fixtures/git_http.py on a free loopback
/// port, serving every repository under `root`; repositories under /private/ need `token`.
final class GitHTTPServer {
    let process = Process()
    let base: String

    init(root: String, token: String? = nil) throws {
        let portFile = root + "/.port-" + UUID().uuidString
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments =
            (token.map { ["GIT_TEST_TOKEN=" + $0] } ?? []) + ["python3", RegistryFixture.fixtures + "/git_http.py", root, portFile]
        try process.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: portFile) { usleep(50_000) }
        base = "http://127.0.0.1:" + ((try? String(contentsOfFile: portFile, encoding: .utf8)) ?? "0")
        try? FileManager.default.removeItem(atPath: portFile)
    }

    /// SIGKILL: SIGTERM is blocked in the test process's children.
    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
