// `gvmc build --ssh ID=KEYFILE[,KEYFILE...]`: an SSH agent of gvmc's own, serving the keys of
// the given files on a private socket for the build's RUN --mount=type=ssh steps, as docker
// build does (BuildKit loads such keys into an in-memory agent). Keys never reach the image: the
// step sees only the socket (relayed by the Executor as for any agent).
//
// Key files: OpenSSH's format (ssh-keygen's default: ed25519, ecdsa-sha2-nistp256/384/521,
// ssh-rsa), unencrypted; PEM RSA (PKCS#1 or PKCS#8) and EC (SEC1 or PKCS#8) keys. A
// passphrase-protected key is refused with the way out (load it into ssh-agent and give the
// agent's socket). The agent protocol (draft-miller-ssh-agent): REQUEST_IDENTITIES and
// SIGN_REQUEST (rsa-sha2-256/512 flags honoured); everything else is answered with FAILURE.
import Crypto
import _CryptoExtras
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// One private key, able to sign as the agent protocol asks.
public struct SSHPrivateKey: @unchecked Sendable {
    enum Kind {
        case ed25519(Curve25519.Signing.PrivateKey)
        case p256(P256.Signing.PrivateKey)
        case p384(P384.Signing.PrivateKey)
        case p521(P521.Signing.PrivateKey)
        case rsa(_RSA.Signing.PrivateKey, n: [UInt8], e: [UInt8])
    }
    let kind: Kind
    public let comment: String

    /// The public key blob (RFC 4253 §6.6 and its successors).
    public var publicBlob: [UInt8] {
        var w = SSHWriter()
        switch kind {
        case .ed25519(let k):
            w.string("ssh-ed25519"); w.bytes(Array(k.publicKey.rawRepresentation))
        case .p256(let k):
            w.string("ecdsa-sha2-nistp256"); w.string("nistp256"); w.bytes(Array(k.publicKey.x963Representation))
        case .p384(let k):
            w.string("ecdsa-sha2-nistp384"); w.string("nistp384"); w.bytes(Array(k.publicKey.x963Representation))
        case .p521(let k):
            w.string("ecdsa-sha2-nistp521"); w.string("nistp521"); w.bytes(Array(k.publicKey.x963Representation))
        case .rsa(_, let n, let e):
            w.string("ssh-rsa"); w.mpint(e); w.mpint(n)
        }
        return w.data
    }

    /// The signature blob for `data` (flags: SSH_AGENT_RSA_SHA2_256 = 2, _512 = 4).
    func sign(_ data: [UInt8], flags: UInt32) throws -> [UInt8] {
        var w = SSHWriter()
        func ecdsa(_ name: String, _ raw: Data, _ half: Int) {
            var inner = SSHWriter()
            inner.mpint(Array(raw.prefix(half))); inner.mpint(Array(raw.suffix(half)))
            w.string(name); w.bytes(inner.data)
        }
        switch kind {
        case .ed25519(let k):
            w.string("ssh-ed25519"); w.bytes(Array(try k.signature(for: data)))
        case .p256(let k): ecdsa("ecdsa-sha2-nistp256", try k.signature(for: data).rawRepresentation, 32)
        case .p384(let k): ecdsa("ecdsa-sha2-nistp384", try k.signature(for: data).rawRepresentation, 48)
        case .p521(let k): ecdsa("ecdsa-sha2-nistp521", try k.signature(for: data).rawRepresentation, 66)
        case .rsa(let k, _, _):
            if flags & 4 != 0 {
                w.string("rsa-sha2-512");
                w.bytes(Array(try k.signature(for: SHA512.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation))
            } else if flags & 2 != 0 {
                w.string("rsa-sha2-256");
                w.bytes(Array(try k.signature(for: SHA256.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation))
            } else {
                w.string("ssh-rsa");
                w.bytes(Array(try k.signature(for: Insecure.SHA1.hash(data: data), padding: .insecurePKCS1v1_5).rawRepresentation))
            }
        }
        return w.data
    }

    /// Reads a private key file (see the top of this file for the formats).
    public static func load(_ path: String) throws -> [SSHPrivateKey] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw SSHKeyError(.system(context: "\(path): cannot read", errno: errno))
        }
        if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----") { return try openSSH(text, path: path) }
        if text.contains("ENCRYPTED") || text.contains("Proc-Type: 4,ENCRYPTED") {
            throw SSHKeyError(.passphraseProtected(path: path, cipher: nil))
        }
        let comment = (path as NSString).lastPathComponent
        if let k = try? _RSA.Signing.PrivateKey(unsafePEMRepresentation: text) {
            let numbers = try k.publicKey.getKeyPrimitives()
            return [SSHPrivateKey(kind: .rsa(k, n: Array(numbers.modulus), e: Array(numbers.publicExponent)), comment: comment)]
        }
        if let k = try? P256.Signing.PrivateKey(pemRepresentation: text) { return [SSHPrivateKey(kind: .p256(k), comment: comment)] }
        if let k = try? P384.Signing.PrivateKey(pemRepresentation: text) { return [SSHPrivateKey(kind: .p384(k), comment: comment)] }
        if let k = try? P521.Signing.PrivateKey(pemRepresentation: text) { return [SSHPrivateKey(kind: .p521(k), comment: comment)] }
        throw SSHKeyError("\(path): not an SSH private key (OpenSSH, PEM RSA or PEM EC)")
    }

    static func openSSH(_ text: String, path: String) throws -> [SSHPrivateKey] {
        let body = text.components(separatedBy: "\n").filter { !$0.hasPrefix("-----") }.joined()
        guard let decoded = Data(base64Encoded: body.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw SSHKeyError("\(path): broken OpenSSH key (base64)")
        }
        let magic = Array("openssh-key-v1".utf8) + [0]
        var r = SSHReader(Array(decoded))
        guard r.take(magic.count) == magic else { throw SSHKeyError("\(path): not an openssh-key-v1 file") }
        let cipher = try r.text(), kdf = try r.text()
        _ = try r.bytes()  // kdf options
        guard cipher == "none", kdf == "none" else {
            throw SSHKeyError(.passphraseProtected(path: path, cipher: cipher))
        }
        let count = try r.u32()
        for _ in 0..<count { _ = try r.bytes() }  // public keys
        var p = SSHReader(try r.bytes())
        guard try p.u32() == p.u32() else { throw SSHKeyError("\(path): broken OpenSSH key (check bytes)") }
        var keys: [SSHPrivateKey] = []
        for _ in 0..<count {
            let type = try p.text()
            let kind: Kind
            switch type {
            case "ssh-ed25519":
                _ = try p.bytes()
                let secret = try p.bytes()
                guard secret.count == 64 else { throw SSHKeyError("\(path): broken ed25519 key") }
                kind = .ed25519(try Curve25519.Signing.PrivateKey(rawRepresentation: secret.prefix(32)))
            case "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521":
                _ = try p.text(); _ = try p.bytes()
                let d = try p.mpint()
                switch type {
                case "ecdsa-sha2-nistp256": kind = .p256(try P256.Signing.PrivateKey(rawRepresentation: pad(d, 32)))
                case "ecdsa-sha2-nistp384": kind = .p384(try P384.Signing.PrivateKey(rawRepresentation: pad(d, 48)))
                default: kind = .p521(try P521.Signing.PrivateKey(rawRepresentation: pad(d, 66)))
                }
            case "ssh-rsa":
                let n = try p.mpint(), e = try p.mpint(), d = try p.mpint()
                _ = try p.mpint()  // iqmp
                let pp = try p.mpint(), q = try p.mpint()
                let key: _RSA.Signing.PrivateKey
                do { key = try _RSA.Signing.PrivateKey(n: n, e: e, d: d, p: pp, q: q) } catch {
                    throw SSHKeyError(.rsaKeyRefused(path: path, cause: error))
                }
                kind = .rsa(key, n: n, e: e)
            default:
                throw SSHKeyError("\(path): \(type) keys are not supported (ed25519, ecdsa and rsa are)")
            }
            keys.append(SSHPrivateKey(kind: kind, comment: try p.text()))
        }
        return keys
    }

    static func pad(_ b: [UInt8], _ n: Int) -> [UInt8] {
        b.count >= n ? Array(b.suffix(n)) : [UInt8](repeating: 0, count: n - b.count) + b
    }
}

/// The agent: a Unix socket in a private directory, served by a thread of its own and one
/// thread per connection. `stop()` shuts the listening socket and every open connection down,
/// waits for all those threads to finish, and only then closes the descriptors, so no thread
/// can use a descriptor number the process has meanwhile reused for something else.
public final class SSHKeyAgent: Sendable {
    public let socketPath: String
    /// The agent's private directory (for cleanup on a signal).
    public let directory: String
    let keys: [SSHPrivateKey]
    let listener: Int32
    /// The open connections, and whether `stop()` has begun.
    private struct State {
        var clients: Set<Int32> = []
        var stopped = false
    }
    private let state = Mutex(State())
    /// The accept loop and every connection's thread.
    let running = DispatchGroup()

    public init(keys: [SSHPrivateKey]) throws {
        self.keys = keys
        let tmp = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.hasPrefix("/") && $0.utf8.count < 60 ? $0 : nil } ?? "/tmp"
        var template = Array("\(tmp)/gvmc-ssh-XXXXXX".utf8CString)
        // mkdtemp's result points into the template: it is read inside the closure.
        guard let dir = template.withUnsafeMutableBufferPointer({ b in mkdtemp(b.baseAddress!).map { String(cString: $0) } }) else {
            throw SSHKeyError(.system(context: "cannot create a directory for the SSH agent", errno: errno))
        }
        let path = dir + "/agent.sock"
        directory = dir
        socketPath = path
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { b in
            for (i, c) in path.utf8.enumerated() where i < b.count - 1 { b[i] = c }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard fd >= 0, bound == 0, listen(fd, 16) == 0 else {
            let e = errno
            if fd >= 0 { Glibc.close(fd) }
            rmdir(dir)
            throw SSHKeyError(.system(context: "cannot listen on \(path)", errno: e))
        }
        listener = fd
        running.enter()
        let thread = Thread { [self] in
            defer { running.leave() }
            acceptLoop()
        }
        thread.start()
    }

    /// Stops serving (a request being answered is finished first; idle connections see the end
    /// of the stream) and removes the socket and its directory. Safe to call more than once.
    public func stop() {
        let first = state.withLock { s in
            let first = !s.stopped
            s.stopped = true
            for c in s.clients { shutdown(c, Int32(SHUT_RDWR)) }
            return first
        }
        guard first else { return }
        // Wakes a blocked accept(2) (EINVAL on Linux); the loop then sees `stopped`.
        shutdown(listener, Int32(SHUT_RDWR))
        running.wait()
        Glibc.close(listener)
        unlink(socketPath)
        rmdir(directory)
    }

    func acceptLoop() {
        enum Next { case stop, retry, serve }
        while true {
            let client = accept(listener, nil, nil)
            let failure = errno
            if client >= 0 { _ = fcntl(client, F_SETFD, FD_CLOEXEC) }
            // The connection is counted (and `running` entered) under the lock that `stop()`
            // takes, so stop either sees it or this loop sees `stopped`.
            let next: Next = state.withLock { s in
                if s.stopped {
                    if client >= 0 { Glibc.close(client) }
                    return .stop
                }
                if client < 0 {
                    return [EINTR, ECONNABORTED, EMFILE, ENFILE].contains(failure) ? .retry : .stop
                }
                s.clients.insert(client)
                running.enter()
                return .serve
            }
            switch next {
            case .stop:
                return
            case .retry:
                if failure == EMFILE || failure == ENFILE { usleep(10_000) }
            case .serve:
                Thread { [self] in
                    defer {
                        state.withLock { s in
                            s.clients.remove(client)
                            Glibc.close(client)
                        }
                        running.leave()
                    }
                    serve(client)
                }.start()
            }
        }
    }

    func serve(_ fd: Int32) {
        while let request = AgentFraming.readMessage(fd) {
            guard AgentFraming.writeMessage(fd, answer(request)) else { return }
        }
    }

    /// One request's answer (the message without its length).
    func answer(_ request: [UInt8]) -> [UInt8] {
        var r = SSHReader(request)
        guard let type = r.take(1).first else { return [5] }
        switch type {
        case 11:  // SSH_AGENTC_REQUEST_IDENTITIES
            var w = SSHWriter()
            w.byte(12); w.u32(UInt32(keys.count))
            for k in keys { w.bytes(k.publicBlob); w.string(k.comment) }
            return w.data
        case 13:  // SSH_AGENTC_SIGN_REQUEST
            guard let blob = try? r.bytes(), let data = try? r.bytes(), let flags = try? r.u32(),
                let key = keys.first(where: { $0.publicBlob == blob }), let signature = try? key.sign(data, flags: flags)
            else { return [5] }
            var w = SSHWriter()
            w.byte(14); w.bytes(signature)
            return w.data
        default:
            return [5]  // SSH_AGENT_FAILURE
        }
    }
}

/// The agent protocol's framing: each message a uint32 length and its bytes.
enum AgentFraming {
    static func readMessage(_ fd: Int32) -> [UInt8]? {
        guard let header = readExactly(fd, 4) else { return nil }
        let n = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        guard n > 0, n <= 256 * 1024 else { return nil }
        return readExactly(fd, n)
    }

    static func readExactly(_ fd: Int32, _ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let r = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, n - got) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return nil }
            got += r
        }
        return out
    }

    static func writeMessage(_ fd: Int32, _ message: [UInt8]) -> Bool {
        var w = SSHWriter()
        w.u32(UInt32(message.count))
        let all = w.data + message
        var sent = 0
        while sent < all.count {
            // MSG_NOSIGNAL: a client that went away is an error here, not SIGPIPE for gvmc.
            let r = all.withUnsafeBytes { send(fd, $0.baseAddress! + sent, all.count - sent, Int32(MSG_NOSIGNAL)) }
            if r < 0 && errno == EINTR { continue }
            guard r > 0 else { return false }
            sent += r
        }
        return true
    }
}

/// SSH's wire encodings (RFC 4251 §5), for the agent protocol and SSH transport alike.
public struct SSHWriter {
    public var data: [UInt8] = []
    public init() {}
    public mutating func byte(_ b: UInt8) { data.append(b) }
    public mutating func bool(_ b: Bool) { data.append(b ? 1 : 0) }
    public mutating func u32(_ v: UInt32) { data += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
    public mutating func bytes(_ b: [UInt8]) { u32(UInt32(b.count)); data += b }
    /// A `string` of bytes.
    public mutating func string<C: Collection>(_ b: C) where C.Element == UInt8 { bytes(Array(b)) }
    public mutating func string(_ s: String) { bytes(Array(s.utf8)) }
    /// An mpint: big-endian, no leading zeros, a zero byte first when the top bit is set.
    public mutating func mpint(_ b: [UInt8]) {
        let trimmed = Array(b.drop { $0 == 0 })
        bytes(trimmed.first.map { $0 & 0x80 != 0 } == true ? [0] + trimmed : trimmed)
    }
}

/// Reads SSH wire-format values (bytes, uint32, strings, mpints) from a buffer.
public struct SSHReader {
    public let data: [UInt8]
    /// The read position.
    public var i = 0
    public init(_ d: [UInt8]) { data = d }
    mutating func take(_ n: Int) -> [UInt8] {
        let end = min(i + n, data.count)
        defer { i = end }
        return Array(data[i..<end])
    }
    public mutating func byte() throws -> UInt8 {
        guard i < data.count else { throw SSHKeyError("a truncated SSH message") }
        i += 1
        return data[i - 1]
    }
    public mutating func u32() throws -> UInt32 {
        let b = take(4)
        guard b.count == 4 else { throw SSHKeyError("a truncated SSH message") }
        return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
    }
    public mutating func bytes() throws -> [UInt8] {
        let n = Int(try u32())
        guard n <= data.count - i else { throw SSHKeyError("a truncated SSH message") }
        return take(n)
    }
    public mutating func text() throws -> String { String(decoding: try bytes(), as: UTF8.self) }
    public mutating func mpint() throws -> [UInt8] { Array(try bytes().drop { $0 == 0 }) }
}
