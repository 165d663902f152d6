// git over SSH (`ADD git@host:org/repo.git`, `ssh://[user@]host[:port]/path`) without an ssh
// binary: libssh (Debian's libssh-4, loaded with dlopen by CDynamic) runs `git-upload-pack` on
// the server, signing in through an SSH agent (the build's `--ssh default`), as BuildKit's git
// source does.
//
//   libssh     version and key exchange (curve25519 and the other current ones), ciphers,
//              re-keys (sshd's RekeyLimit, and ours after a gigabyte as RFC 4253 §9 asks),
//              publickey sign-in through the agent (RSA keys as rsa-sha2-512/256), the channel
//   here       the socket, which host key types to offer (ed25519, ECDSA, RSA as
//              rsa-sha2-512/256; those known_hosts pins for the host first), whether the key
//              shown is accepted (KnownHosts) and stays the same across re-keys, errors
//              naming the host and the stage
//
// libssh 0.10 rather than libssh2: Debian 12's libssh2 (1.10) signs and verifies RSA only as
// ssh-rsa (SHA-1), which OpenSSH 8.8 and later refuse, so an RSA-only server or an RSA key
// could not be used at all.
//
// Unknown hosts are accepted, as BuildKit does (it runs ssh with StrictHostKeyChecking=no); a
// host listed in ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts without the server's key is
// refused (KnownHosts).
import CDynamic
import Foundation
import HTTPTransport
import SSHAgent

/// One SSH connection running one command: its stdout through `read`, its stdin through
/// `write`, its stderr kept for error messages.
final class SSHSession {
    let remote: SSHRemote
    /// libssh's session and channel; freed in deinit.
    let handle: OpaquePointer
    /// The host key the first exchange showed (wire form).
    let hostKey: [UInt8]
    var hostKeyType: String { var r = SSHReader(hostKey); return (try? r.text()) ?? "" }
    /// What the command wrote to stderr (its first 64 KiB).
    var stderr: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 128 << 10)
    /// How long a silent server is waited for, at any stage.
    let stallSeconds: Int

    /// The host key algorithms offered, ours in our order (known_hosts may move some first).
    static let hostKeyAlgorithms = [
        "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
        "rsa-sha2-512", "rsa-sha2-256"
    ]

    /// Connects, agrees on keys, checks the host key, signs in with the agent's keys and starts
    /// `command`. `rekeyLimit`: bytes each way after which we re-key (RFC 4253 §9: a gigabyte).
    init(_ remote: SSHRemote, agent: String, command: String, rekeyLimit: Int = 1 << 30) throws {
        self.remote = remote
        let stallSeconds = DownloadLimit.stallSeconds
        self.stallSeconds = stallSeconds
        var err = [CChar](repeating: 0, count: 512)
        let name = Self.name(remote)
        func message() -> String { Self.text(err) }
        guard gv_ssh_load(&err, err.count) == 0 else {
            throw GitError("SSH \(name): git over SSH needs libssh: \(message()) (Debian: apt-get install libssh-4)")
        }
        let fd = try Self.connect(remote.host, remote.port, stallSeconds: stallSeconds)
        let algorithms = KnownHosts.preferred(Self.hostKeyAlgorithms, host: remote.host, port: remote.port).joined(separator: ",")
        let session = remote.host.withCString { host in
            remote.user.withCString { user in
                algorithms.withCString { keys in
                    var options = gv_ssh_options(
                        fd: fd, host: host, port: Int32(remote.port), user: user, host_keys: keys,
                        timeout_s: stallSeconds, rekey_bytes: UInt64(rekeyLimit))
                    return gv_ssh_connect(&options, &err, err.count)
                }
            }
        }
        guard let session else {
            let why = message()
            throw GitError(
                "SSH \(name): key exchange: "
                    + (why.hasPrefix("Timeout connecting") ? "no SSH server answered within \(stallSeconds) s: gave up" : why))
        }
        handle = session
        hostKey = Data(base64Encoded: String(cString: gv_ssh_host_key(session))).map(Array.init) ?? []
        try KnownHosts.check(host: remote.host, port: remote.port, key: hostKey)

        let keys = try SSHAgentClient(agent).identities()
        guard !keys.isEmpty else { throw GitError("SSH \(name): the SSH agent (--ssh default) holds no keys") }
        switch gv_ssh_auth_agent(session, agent, &err, err.count) {
        case 0: break
        case 1:
            throw GitError(
                "SSH \(name): permission denied: the server accepted none of the agent's \(keys.count) \(keys.count == 1 ? "key" : "keys")")
        case 2: throw GitError("SSH \(name): permission denied: the server accepted a key of the agent but asks for more (partial success)")
        default: throw GitError("SSH \(name): authentication: \(message())")
        }
        guard gv_ssh_exec(session, command, &err, err.count) == 0 else {
            throw GitError("SSH \(name): the server refused to run \(command): \(message())")
        }
    }

    deinit { gv_ssh_free(handle) }

    var name: String { Self.name(remote) }
    static func name(_ remote: SSHRemote) -> String { "\(remote.user)@\(remote.host)\(remote.port == 22 ? "" : ":\(remote.port)")" }
    /// A message libssh (through CDynamic) left in `err`.
    static func text(_ err: [CChar]) -> String { String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

    /// A TCP connection to the first address of `host` that answers; closed on exec
    /// (SOCK_CLOEXEC), with `stallSeconds` as its connect and send timeout.
    static func connect(_ host: String, _ port: Int, stallSeconds: Int) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        guard rc == 0, let first = list else { throw GitError("\(host): cannot resolve the host (\(String(cString: gai_strerror(rc))))") }
        defer { freeaddrinfo(first) }
        var why = "no address"
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let a = entry {
            let fd = Glibc.socket(a.pointee.ai_family, a.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), a.pointee.ai_protocol)
            if fd >= 0 {
                var timeout = timeval(tv_sec: stallSeconds, tv_usec: 0)
                setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                if Glibc.connect(fd, a.pointee.ai_addr, a.pointee.ai_addrlen) == 0 { return fd }
                why = String(cString: strerror(errno))
                close(fd)
            }
            entry = a.pointee.ai_next
        }
        throw GitError("\(host):\(port): cannot connect: \(why)")
    }

    /// The command's next output; nil once it has finished (its stderr is kept in `stderr`).
    func read() throws -> [UInt8]? {
        var err = [CChar](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { gv_ssh_read(handle, $0.baseAddress, $0.count, &err, err.count) }
        let data = n > 0 ? Array(buffer[..<n]) : []
        keepStderr()  // reuses `buffer`
        switch n {
        case 1...:
            return data
        case 0 where gv_ssh_eof(handle) != 0:
            return nil
        case 0:
            throw GitError("SSH \(name): the server sent nothing for \(stallSeconds) s: gave up")
        case Int(GV_SSH_HOST_KEY_CHANGED):
            throw GitError("SSH \(name): the server showed another host key when re-keying: refused")
        default:
            throw GitError("SSH \(name): reading: \(Self.text(err))")
        }
    }

    /// Moves what has arrived on stderr into `stderr`, keeping the first 64 KiB.
    func keepStderr() {
        while true {
            let n = buffer.withUnsafeMutableBytes { gv_ssh_read_stderr(handle, $0.baseAddress, $0.count) }
            guard n > 0 else { return }
            if stderr.count < 65536 { stderr += buffer[..<min(n, 65536 - stderr.count)] }
        }
    }

    func write(_ bytes: [UInt8]) throws {
        var err = [CChar](repeating: 0, count: 512)
        guard bytes.withUnsafeBytes({ gv_ssh_write(handle, $0.baseAddress, $0.count, &err, err.count) }) == 0 else {
            throw GitError("SSH \(name): sending: \(Self.text(err))")
        }
    }

    /// What the server said on stderr, for error messages.
    var serverMessage: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}
