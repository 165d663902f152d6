// git over SSH (SSHSession, libssh) against OpenSSH's own sshd on loopback, signing in through
// ssh-agent: the host key pinned in known_hosts holds whatever key types the server has (an
// ECDSA key does not pass for a pinned ed25519 host), and transfers survive re-keying, the
// server's (sshd's RekeyLimit) and our own.
import Crypto
import Foundation
import Testing
@testable import GitSource
@testable import HTTPTransport

/// sshd servers and an ssh-agent in a temporary directory, stopped by their pids.
final class SSHFixture {
    let dir: String
    /// ssh-agent in the foreground (-D): a daemonizing one leaves Foundation's Process waiting.
    let agentProcess = Process()
    var pidFiles: [String] = []
    var agent: String { dir + "/agent.sock" }

    init() throws {
        dir = NSTemporaryDirectory() + "gitssh-" + UUID().uuidString
        let setup = Tools.run([
            "sh", "-c",
            """
            set -e; mkdir -p \(dir) /run/sshd; cd \(dir)
            for k in host_ed:ed25519 host_ec:ecdsa other_ec:ecdsa client:ed25519; do ssh-keygen -q -t ${k#*:} -N '' -f ${k%:*}; done
            cp client.pub authorized_keys
            """
        ])
        try #require(setup.status == 0, "\(setup.output)")
        agentProcess.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-agent")
        agentProcess.arguments = ["-D", "-a", agent]
        agentProcess.standardOutput = FileHandle.nullDevice
        try agentProcess.run()
        for _ in 0..<50 where !FileManager.default.fileExists(atPath: agent) { usleep(100_000) }
        let added = Tools.run(["env", "SSH_AUTH_SOCK=" + agent, "ssh-add", "-q", dir + "/client"])
        try #require(added.status == 0, "\(added.output)")
    }

    /// Starts an sshd with these host keys (file names in `dir`) and extra configuration; its port.
    /// It logs to `<name>.log` (LogLevel DEBUG1: one "SSH2_MSG_NEWKEYS received" per key exchange).
    func start(_ name: String, hostKeys: [String], extra: String = "") throws -> Int {
        let port =
            Int(
                Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
                    .output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        let config =
            [
                "Port \(port)", "ListenAddress 127.0.0.1", "AuthorizedKeysFile \(dir)/authorized_keys", "StrictModes no", "UsePAM no",
                "PasswordAuthentication no", "KbdInteractiveAuthentication no", "PermitRootLogin prohibit-password",
                "PidFile \(dir)/\(name).pid", "LogLevel DEBUG1"
            ] + hostKeys.map { "HostKey \(dir)/\($0)" } + (extra.isEmpty ? [] : [extra])
        try (config.joined(separator: "\n") + "\n").write(toFile: dir + "/\(name).config", atomically: true, encoding: .utf8)
        // sshd daemonizes (its own forks per connection would stall Process's child monitoring).
        try #require(Tools.run(["/usr/sbin/sshd", "-f", dir + "/\(name).config", "-E", dir + "/\(name).log"]).status == 0)
        pidFiles.append(dir + "/\(name).pid")
        for _ in 0..<100 where Tools.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status != 0 { usleep(50_000) }
        return port
    }

    /// The key exchanges (the first and every re-key) the server `name` has finished so far.
    func keyExchanges(_ name: String) -> Int {
        ((try? String(contentsOfFile: dir + "/\(name).log", encoding: .utf8)) ?? "").components(separatedBy: "SSH2_MSG_NEWKEYS received")
            .count - 1
    }

    /// A known_hosts line for `[127.0.0.1]:port` with the public key of `key`.
    func knownHost(_ port: Int, _ key: String) throws -> String {
        let pub = try String(contentsOfFile: dir + "/\(key).pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        return "[127.0.0.1]:\(port) \(pub)\n"
    }

    deinit {
        for file in pidFiles {
            if let pid = (try? String(contentsOfFile: file, encoding: .utf8)).flatMap({
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }) {
                kill(pid, SIGKILL)
            }
        }
        kill(agentProcess.processIdentifier, SIGKILL)
        agentProcess.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite(
    .serialized,
    .enabled(
        if: getuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/sbin/sshd") && Tools.exists("git")
            && Tools.exists("ssh-agent"), "needs root, git, sshd and ssh-agent (openssh-server, openssh-client)"))
struct GitSSHTests {
    /// Connects with known_hosts holding `lines`; the host key type the server showed, or the error.
    func connect(_ fixture: SSHFixture, port: Int, knownHosts lines: String) -> String {
        let file = fixture.dir + "/known_hosts"
        _ = FileManager.default.createFile(atPath: file, contents: Data(lines.utf8))
        return KnownHosts.$override.withValue([file]) {
            do {
                return try SSHSession(
                    SSHRemote(user: "root", host: "127.0.0.1", port: port, path: "/"), agent: fixture.agent, command: "true"
                )
                .hostKeyType
            } catch {
                return "\(error)"
            }
        }
    }

    /// A host pinned to its ed25519 key, answered by a server showing only an ECDSA key (another
    /// machine, or someone in the middle): refused, as `ssh -o StrictHostKeyChecking=yes` refuses.
    /// A server with both keys shows the one known_hosts pins, whichever type it is.
    @Test func aPinnedHostIsRefusedWithAKeyOfAnotherType() throws {
        let fixture = try SSHFixture()
        let both = try fixture.start("both", hostKeys: ["host_ed", "host_ec"])
        let impostor = try fixture.start("impostor", hostKeys: ["other_ec"])
        let refused = connect(fixture, port: impostor, knownHosts: try fixture.knownHost(impostor, "host_ed"))
        #expect(
            refused.contains("the server's ecdsa-sha2-nistp256 host key is not the one") && refused.contains("known_hosts:1")
                && refused.contains("(ssh-ed25519, and the server shows no such key)"), "\(refused)")
        #expect(connect(fixture, port: both, knownHosts: try fixture.knownHost(both, "host_ec")) == "ecdsa-sha2-nistp256")
        #expect(connect(fixture, port: both, knownHosts: try fixture.knownHost(both, "host_ed")) == "ssh-ed25519")
        #expect(connect(fixture, port: both, knownHosts: "") == "ssh-ed25519", "an unknown host: our own order")
        let changed = connect(fixture, port: impostor, knownHosts: try fixture.knownHost(impostor, "host_ec"))
        #expect(changed.contains("is not the one") && !changed.contains("no such key"), "\(changed)")
    }

    /// A server that stops sending is given up on after GVMC_STALL_SECONDS, with the host named;
    /// one that never speaks SSH ends the same way, in the key exchange.
    @Test func aSilentServerIsGivenUpOn() throws {
        let fixture = try SSHFixture()
        let port = try fixture.start("silent", hostKeys: ["host_ed"])
        let remote = SSHRemote(user: "root", host: "127.0.0.1", port: port, path: "/")
        let start = Date()
        let silent = DownloadLimit.$stallOverride.withValue(2) {
            KnownHosts.$override.withValue([]) {
                Result { () throws -> String in
                    let session = try SSHSession(remote, agent: fixture.agent, command: "echo started; sleep 8")
                    let first = try session.read()  // "started\n", then silence
                    return "\(first ?? []), then \(try session.read() ?? [])"
                }
            }
        }
        let waited = Date().timeIntervalSince(start)
        #expect("\(silent)".contains("SSH root@127.0.0.1:\(port): the server sent nothing for 2 s: gave up"), "\(silent)")
        #expect(waited < 7, "waited \(waited) s")

        // A listener that accepts and says nothing.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_in(
            sin_family: sa_family_t(AF_INET), sin_port: 0, sin_addr: in_addr(s_addr: inet_addr("127.0.0.1")),
            sin_zero: (0, 0, 0, 0, 0, 0, 0, 0))
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        try withUnsafeMutablePointer(to: &address) { a in
            try a.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                try #require(bind(listener, $0, length) == 0 && listen(listener, 4) == 0 && getsockname(listener, $0, &length) == 0)
            }
        }
        let mute = SSHRemote(user: "root", host: "127.0.0.1", port: Int(UInt16(bigEndian: address.sin_port)), path: "/")
        let never = DownloadLimit.$stallOverride.withValue(2) { Result { try SSHSession(mute, agent: fixture.agent, command: "true") } }
        #expect(
            "\(never)".contains("SSH root@127.0.0.1:\(mute.port): key exchange: no SSH server answered within 2 s: gave up"), "\(never)")
    }

    /// sshd with `RekeyLimit 1M` re-keys every megabyte: a 30 MB repository arrives whole and
    /// matches `git archive`, after some 30 key exchanges (sshd's log counts them: a fetch that
    /// saw none would not test re-keying); our own re-key (a small limit) also keeps a transfer
    /// going.
    @Test func transfersSurviveReKeying() throws {
        let fixture = try SSHFixture()
        let port = try fixture.start("rekey", hostKeys: ["host_ed"], extra: "RekeyLimit 1M")
        let dir = fixture.dir
        let setup = Tools.run([
            "sh", "-c",
            """
            set -e; cd \(dir); git init -q -b main w; cd w
            for i in 1 2 3; do head -c 10000000 /dev/urandom > blob$i.bin; done; echo small > README
            git add -A; git -c user.name=t -c user.email=t@e commit -q -m big; cd ..; git clone -q --bare w served.git
            mkdir expected; git --git-dir served.git archive HEAD | tar -x -C expected
            """
        ])
        try #require(setup.status == 0, "\(setup.output)")
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        let start = Date()
        let fetched = Result {
            try KnownHosts.$override.withValue([]) {
                try GitFetch.checkout("ssh://root@127.0.0.1:\(port)\(dir)/served.git", into: dir + "/out", sshAgent: fixture.agent)
            }
        }
        let exchanges = fixture.keyExchanges("rekey")
        print("30 MB over SSH with RekeyLimit 1M: \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(exchanges) key exchanges")
        #expect(throws: Never.self) { try fetched.get() }
        let diff = Tools.run(["diff", "-r", dir + "/expected", dir + "/out"])
        #expect(diff.status == 0, "\(diff.output)")
        for blob in ["blob1.bin", "blob2.bin", "blob3.bin"] {
            let fetchedBlob = try? Data(contentsOf: URL(fileURLWithPath: dir + "/out/" + blob))
            let expectedBlob = try Data(contentsOf: URL(fileURLWithPath: dir + "/w/" + blob))
            #expect(fetchedBlob.map { SHA256.hash(data: $0) } == SHA256.hash(data: expectedBlob), "\(blob) arrived changed or not at all")
        }
        // 30 MB one way at a re-key per megabyte (both directions count towards sshd's limit).
        #expect(exchanges >= 20, "sshd finished \(exchanges) key exchanges: RekeyLimit 1M did not re-key the transfer")

        // Our side: a re-key after every 256 KiB of a 10 MB `cat`, from a server that never
        // starts one itself; stderr lines before, between and after the output stay apart from it.
        let quietPort = try fixture.start("quiet", hostKeys: ["host_ed"])
        let session = try SSHSession(
            SSHRemote(user: "root", host: "127.0.0.1", port: quietPort, path: "/"), agent: fixture.agent,
            command: "echo before >&2; head -c 5000000 \(dir)/w/blob1.bin; echo between >&2; "
                + "tail -c +5000001 \(dir)/w/blob1.bin; echo after >&2", rekeyLimit: 256 << 10)
        var received = SHA256()
        var count = 0
        while let chunk = try session.read() { received.update(data: chunk); count += chunk.count }
        let expected = SHA256.hash(data: try Data(contentsOf: URL(fileURLWithPath: dir + "/w/blob1.bin")))
        #expect(count == 10_000_000 && received.finalize() == expected)
        #expect(session.serverMessage == "before\nbetween\nafter")
        // 10 MB / 256 KiB would be 39 re-keys; libssh counts cipher blocks of both directions
        // against the limit and checks between packets (25 were counted): many re-keys, where 1
        // means none.
        let ours = fixture.keyExchanges("quiet")
        #expect(ours >= 10, "\(ours) key exchanges")
    }
}
