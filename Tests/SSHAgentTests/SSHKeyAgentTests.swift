// The in-process agent's lifetime: it answers over its socket, and stop() ends every
// connection, waits for its threads and leaves nothing behind, whatever the clients are doing.
import Foundation
import Glibc
import Testing
@testable import SSHAgent

@Suite struct SSHKeyAgentTests {
    /// An ed25519 key in OpenSSH's format, written here by ssh-keygen when it is installed.
    func key() throws -> [SSHPrivateKey] {
        let dir = NSTemporaryDirectory() + "/agent-key-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ssh-keygen")
        p.arguments = ["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", dir + "/k"]
        try p.run()
        p.waitUntilExit()
        return try SSHPrivateKey.load(dir + "/k")
    }

    func connect(_ path: String) -> Int32 {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { b in
            for (i, c) in path.utf8.enumerated() where i < b.count - 1 { b[i] = c }
        }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        // A regression fails the test instead of hanging it.
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        return rc == 0 ? fd : -1
    }

    /// SSH_AGENTC_REQUEST_IDENTITIES (11) → SSH_AGENT_IDENTITIES_ANSWER (12) with one key.
    func listIdentities(_ fd: Int32) -> (type: UInt8, count: UInt32)? {
        let request: [UInt8] = [0, 0, 0, 1, 11]
        guard send(fd, request, 5, Int32(MSG_NOSIGNAL)) == 5 else { return nil }
        var header = [UInt8](repeating: 0, count: 9)
        var got = 0
        while got < 9 {
            let n = header.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, 9 - got) }
            if n <= 0 { return nil }
            got += n
        }
        return (header[4], UInt32(header[5]) << 24 | UInt32(header[6]) << 16 | UInt32(header[7]) << 8 | UInt32(header[8]))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen"), "needs ssh-keygen (openssh-client)"))
    func stopEndsEveryConnectionAndLeavesNothing() throws {
        let agent = try SSHKeyAgent(keys: try key())
        let busy = connect(agent.socketPath), idle = connect(agent.socketPath)
        #expect(busy >= 0 && idle >= 0)
        defer { close(busy); close(idle) }
        let answer = listIdentities(busy)
        #expect(answer?.type == 12 && answer?.count == 1, "\(String(describing: answer))")
        // stop() returns although both clients keep their connections open.
        let stopped = DispatchSemaphore(value: 0)
        Thread {
            agent.stop(); stopped.signal()
        }.start()
        #expect(stopped.wait(timeout: .now() + 10) == .success, "stop() waits for idle clients forever")
        // Both clients see the end of the stream, not a hang.
        var byte: UInt8 = 0
        #expect(read(idle, &byte, 1) == 0)
        #expect(listIdentities(busy) == nil)
        #expect(access(agent.socketPath, F_OK) != 0 && access(agent.directory, F_OK) != 0, "socket and directory removed")
        #expect(connect(agent.socketPath) < 0)
        agent.stop()  // a second stop is harmless
    }

    /// A client that sends a request and leaves before the answer costs the agent (and gvmc)
    /// nothing: no SIGPIPE, the next client is answered.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen"), "needs ssh-keygen (openssh-client)"))
    func aClientLeavingBeforeItsAnswerIsHarmless() throws {
        let agent = try SSHKeyAgent(keys: try key())
        defer { agent.stop() }
        for _ in 0..<50 {
            let fd = connect(agent.socketPath)
            var linger = linger(l_onoff: 1, l_linger: 0)  // close with a reset
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<linger>.size))
            _ = send(fd, [0, 0, 0, 1, 11] as [UInt8], 5, Int32(MSG_NOSIGNAL))
            close(fd)
        }
        let fd = connect(agent.socketPath)
        defer { close(fd) }
        #expect(listIdentities(fd)?.count == 1)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ssh-keygen"), "needs ssh-keygen (openssh-client)"))
    func stopRightAfterStartAndManyClientsAtOnce() throws {
        let keys = try key()
        for _ in 0..<20 {
            let agent = try SSHKeyAgent(keys: keys)
            agent.stop()
            #expect(access(agent.directory, F_OK) != 0)
        }
        let agent = try SSHKeyAgent(keys: keys)
        let answers = (0..<16).map { _ in connect(agent.socketPath) }.map { fd -> Bool in
            defer { close(fd) }
            return listIdentities(fd)?.count == 1
        }
        #expect(answers.allSatisfy { $0 })
        agent.stop()
    }
}
