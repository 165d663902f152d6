// The client side of the SSH agent protocol (draft-miller-ssh-agent): list the agent's keys and
// have one sign. gvmc's git-over-SSH transport signs in with it, through the build's
// `--ssh default` agent (the user's, or SSHKeyAgent serving key files).
import Foundation
import Glibc

/// A connection to an SSH agent's socket: lists its keys and has one sign.
public final class SSHAgentClient {
    let fd: Int32
    let path: String

    public init(_ path: String) throws {
        self.path = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            if fd >= 0 { close(fd) }
            throw SSHKeyError("the SSH agent socket path \(path) is too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { b in for (i, c) in bytes.enumerated() { b[i] = c } }
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, rc == 0 else {
            let e = errno
            if fd >= 0 { close(fd) }
            throw SSHKeyError(.system(context: "the SSH agent at \(path)", errno: e))
        }
        self.fd = fd
    }

    deinit { close(fd) }

    func call(_ message: [UInt8]) throws -> [UInt8] {
        guard AgentFraming.writeMessage(fd, message) else { throw SSHKeyError(.system(context: "the SSH agent at \(path)", errno: errno)) }
        guard let answer = AgentFraming.readMessage(fd) else {
            throw SSHKeyError("the SSH agent at \(path) closed the connection or answered malformed")
        }
        return answer
    }

    /// The public key blobs the agent holds (SSH_AGENTC_REQUEST_IDENTITIES).
    public func identities() throws -> [[UInt8]] {
        var r = SSHReader(try call([11]))
        guard try r.byte() == 12 else { throw SSHKeyError("the SSH agent at \(path) refused to list its keys") }
        return try (0..<Int(try r.u32())).map { _ in
            let key = try r.bytes()
            _ = try r.bytes()  // the comment
            return key
        }
    }

    /// The signature blob of `data` by `key` (flags: 2 for rsa-sha2-256, 4 for rsa-sha2-512).
    public func sign(_ key: [UInt8], _ data: [UInt8], flags: UInt32) throws -> [UInt8] {
        var w = SSHWriter()
        w.byte(13); w.bytes(key); w.bytes(data); w.u32(flags)
        var r = SSHReader(try call(w.data))
        guard try r.byte() == 14 else { throw SSHKeyError("the SSH agent at \(path) refused to sign") }
        return try r.bytes()
    }
}
