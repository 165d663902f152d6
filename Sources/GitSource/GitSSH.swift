// git over SSH (`ADD git@host:org/repo.git`, `ssh://[user@]host[:port]/path`) without an ssh
// binary: an SSH-2 client just large enough to run `git-upload-pack` on the server, signing
// in through an SSH agent (the build's `--ssh default`), as BuildKit's git source does.
//
//   transport (RFC 4253)  version exchange; curve25519-sha256 key exchange (RFC 8731); host keys
//                         ssh-ed25519, ecdsa-sha2-nistp256/384/521 (RFC 5656) and RSA signed
//                         as rsa-sha2-512/256 (RFC 8332), checked
//                         against known_hosts when the host is listed there; packets sealed
//                         with aes256-gcm@openssh.com or aes128-gcm@openssh.com (RFC 5647 as
//                         OpenSSH implements it); re-keyed when the server asks (sshd's
//                         RekeyLimit) or after a gigabyte (RFC 4253 §9)
//   user auth (RFC 4252)  publickey, every agent key in turn (RSA keys as rsa-sha2-512)
//   connection (RFC 4254) one session channel, `exec git-upload-pack '<path>'`, flow control
//
// Unknown hosts are accepted, as BuildKit does (it runs ssh with StrictHostKeyChecking=no); a
// host listed in ~/.ssh/known_hosts or /etc/ssh/ssh_known_hosts without the server's key is
// refused (KnownHosts).
import Crypto
import _CryptoExtras
import Foundation
import HTTPTransport
import SSHAgent

/// Where an SSH git URL points.
struct SSHRemote: Equatable {
    var user: String
    var host: String
    var port: Int
    var path: String

    init(user: String, host: String, port: Int, path: String) {
        self.user = user; self.host = host; self.port = port; self.path = path
    }

    /// `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`; nil for other URLs.
    init?(_ repository: String) {
        var rest: Substring
        if repository.hasPrefix("ssh://") || repository.hasPrefix("git+ssh://") {
            rest = repository[repository.range(of: "://")!.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            var authority = rest[..<slash]
            path = String(rest[slash...])
            if path.hasPrefix("/~") { path = String(path.dropFirst()) }
            user = ""
            if let at = authority.lastIndex(of: "@") { user = String(authority[..<at]); authority = authority[authority.index(after: at)...] }
            port = 22
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
                port = p
            } else {
                host = String(authority)
            }
        } else {
            // scp-like: no scheme, a colon before any slash.
            guard !repository.contains("://"), let colon = repository.firstIndex(of: ":"),
                  !repository[..<colon].contains("/") else { return nil }
            rest = repository[..<colon]
            path = String(repository[repository.index(after: colon)...])
            user = ""
            if let at = rest.lastIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
            host = String(rest)
            port = 22
        }
        if user.isEmpty { user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "root" }
        guard !host.isEmpty, !path.isEmpty, (1...65535).contains(port) else { return nil }
    }

    /// The command the server runs: git-upload-pack with the path single-quoted, as git sends it.
    var uploadPack: String { "git-upload-pack '" + path.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}

/// One SSH connection running one command.
final class SSHSession {
    /// Closes its descriptor when the last reference goes, whether or not init finished.
    final class Descriptor {
        let fd: Int32
        init(_ fd: Int32) { self.fd = fd }
        deinit { close(fd) }
    }

    let remote: SSHRemote
    let socket: Descriptor
    var fd: Int32 { socket.fd }
    var sessionID: [UInt8] = []
    var versions = (client: "SSH-2.0-gvmc_1.0", server: "")
    /// The host key the first exchange showed.
    var hostKey: [UInt8] = []
    var hostKeyType: String { var r = SSHReader(hostKey); return (try? r.text()) ?? "" }
    var keyExchanges = 0
    /// Set during a key exchange; messages other than its own wait in `queued` meanwhile.
    var exchanging = false
    var queued: [[UInt8]] = []
    /// Bytes sealed or opened since the last key exchange; past `rekeyLimit` we start another
    /// (RFC 4253 §9 asks for one after a gigabyte).
    var sinceKeys = 0
    var rekeyLimit = 1 << 30
    /// Sealing state per direction once keys are in use: AES-GCM key and the 12-byte nonce
    /// (4 fixed bytes, then a 64-bit counter incremented per packet).
    var outgoing: (key: SymmetricKey, nonce: [UInt8])?
    var incoming: (key: SymmetricKey, nonce: [UInt8])?
    var buffered: [UInt8] = []
    // The channel.
    var remoteChannel: UInt32 = 0
    var remoteWindow: Int = 0
    var remoteMaxPacket = 32768
    var consumed = 0
    var stderr: [UInt8] = []
    var exitStatus: UInt32?
    var closed = false
    static let window: UInt32 = 4 << 20
    /// How long a silent server is waited for (the socket's receive and send timeouts).
    let stallSeconds = DownloadLimit.stallSeconds

    /// Connects, agrees on keys, signs in with the agent's keys and starts `command`.
    init(_ remote: SSHRemote, agent: String, command: String) throws {
        self.remote = remote
        socket = Descriptor(try Self.connect(remote.host, remote.port, stallSeconds: stallSeconds))
        try handshake()
        try authenticate(agent)
        try start(command)
    }

    var name: String { "\(remote.user)@\(remote.host)\(remote.port == 22 ? "" : ":\(remote.port)")" }

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

    // MARK: bytes

    func readExactly(_ n: Int) throws -> [UInt8] {
        while buffered.count < n {
            var chunk = [UInt8](repeating: 0, count: max(65536, n - buffered.count))
            let got = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, 0) }
            if got < 0 && errno == EINTR { continue }
            if got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                throw GitError("SSH \(name): the server sent nothing for \(stallSeconds) s: gave up")
            }
            guard got > 0 else { throw GitError("SSH \(name): the connection closed" + (got < 0 ? " (\(String(cString: strerror(errno))))" : "")) }
            buffered += chunk[..<got]
        }
        defer { buffered.removeFirst(n) }
        return Array(buffered[..<n])
    }

    func writeAllBytes(_ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw GitError("SSH \(name): sending: \(String(cString: strerror(errno)))") }
            sent += n
        }
    }

    static func advance(_ nonce: inout [UInt8]) {
        for k in stride(from: 11, through: 4, by: -1) {
            nonce[k] &+= 1
            if nonce[k] != 0 { break }
        }
    }

    // MARK: packets

    func send(_ payload: [UInt8]) throws {
        let block = outgoing == nil ? 8 : 16
        // Unsealed, the length field counts towards the block; sealed, it travels in the clear.
        let counted = outgoing == nil ? 5 : 1
        var padding = block - (counted + payload.count) % block
        if padding < 4 { padding += block }
        var w = SSHWriter()
        w.u32(UInt32(1 + payload.count + padding))
        let length = w.data
        var body: [UInt8] = [UInt8(padding)] + payload
        body += (0..<padding).map { _ in UInt8.random(in: 0...255) }
        if var sealing = outgoing {
            let box = try AES.GCM.seal(body, using: sealing.key, nonce: try AES.GCM.Nonce(data: sealing.nonce), authenticating: length)
            Self.advance(&sealing.nonce)
            outgoing = sealing
            try writeAllBytes(length + Array(box.ciphertext) + Array(box.tag))
            sinceKeys += body.count
        } else {
            try writeAllBytes(length + body)
        }
    }

    /// The next message, skipping SSH_MSG_IGNORE, DEBUG and the like; DISCONNECT is an error.
    /// A KEXINIT from the server after the first exchange is a re-key, answered here; so is
    /// our own once `rekeyLimit` bytes have passed.
    func receive() throws -> [UInt8] {
        if !exchanging {
            if !queued.isEmpty { return queued.removeFirst() }
            if !sessionID.isEmpty, sinceKeys > rekeyLimit {
                try exchangeKeys(serverInit: nil)
                if !queued.isEmpty { return queued.removeFirst() }
            }
        }
        while true {
            let lengthBytes = try readExactly(4)
            var lengthReader = SSHReader(lengthBytes)
            let length = Int(try lengthReader.u32())
            guard length >= 5, length <= 1 << 20 else { throw GitError("SSH \(name): a packet of \(length) bytes") }
            var body: [UInt8]
            if var opening = incoming {
                let sealed = try readExactly(length + 16)
                let box = try AES.GCM.SealedBox(nonce: try AES.GCM.Nonce(data: opening.nonce), ciphertext: sealed[..<length], tag: sealed[length...])
                do { body = Array(try AES.GCM.open(box, using: opening.key, authenticating: lengthBytes)) } catch {
                    throw GitError("SSH \(name): a packet failed authentication")
                }
                Self.advance(&opening.nonce)
                incoming = opening
            } else {
                body = try readExactly(length)
            }
            let padding = Int(body[0])
            guard padding + 1 < body.count else { throw GitError("SSH \(name): malformed packet") }
            let payload = Array(body[1..<(body.count - padding)])
            sinceKeys += length
            switch payload.first {
            case 20 where !exchanging:  // KEXINIT: the server re-keys
                try exchangeKeys(serverInit: payload)
                if !queued.isEmpty { return queued.removeFirst() }
                continue
            case 2, 4, 7:  // IGNORE, DEBUG, EXT_INFO
                continue
            case 1:  // DISCONNECT
                var r = SSHReader(payload); _ = try r.byte(); _ = try r.u32()
                throw GitError("SSH \(name): the server disconnected: \((try? r.text()) ?? "")")
            case 80:  // GLOBAL_REQUEST: refused when it wants a reply
                var r = SSHReader(payload); _ = try r.byte(); _ = try r.bytes()
                if try r.byte() != 0 { try send([82]) }
                continue
            default:
                return payload
            }
        }
    }

    // MARK: key exchange

    static let kexAlgorithms = ["curve25519-sha256", "curve25519-sha256@libssh.org"]
    static let hostKeyAlgorithms = ["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                                    "rsa-sha2-512", "rsa-sha2-256"]
    static let ciphers = ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]

    /// The version exchange, then the first key exchange (its hash is the session id).
    func handshake() throws {
        try writeAllBytes(Array((versions.client + "\r\n").utf8))
        var serverVersion = ""
        for _ in 0..<64 {
            var line: [UInt8] = []
            while line.last != 0x0a {
                line += try readExactly(1)
                guard line.count < 256 else { throw GitError("SSH \(name): not an SSH server") }
            }
            let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .newlines)
            if text.hasPrefix("SSH-") { serverVersion = text; break }
        }
        guard serverVersion.hasPrefix("SSH-2.0-") || serverVersion.hasPrefix("SSH-1.99-") else {
            throw GitError("SSH \(name): not an SSH-2 server (\(serverVersion))")
        }
        versions.server = serverVersion
        try exchangeKeys(serverInit: nil)
    }

    /// A key exchange (RFC 4253 §7-8), the first or a re-key (§9): KEXINITs both ways (the
    /// server's given when it started this one), curve25519, the host key's signature, NEWKEYS,
    /// then new keys each way. The session id stays the first exchange's hash, and a re-key must
    /// show the host key the first one showed. Other messages the server sent before its KEXINIT
    /// wait in `queued`; nothing but key exchange is sent until NEWKEYS.
    func exchangeKeys(serverInit given: [UInt8]?) throws {
        exchanging = true
        defer { exchanging = false }
        keyExchanges += 1
        var kexinit = SSHWriter()
        kexinit.byte(20)
        kexinit.data += (0..<16).map { _ in UInt8.random(in: 0...255) }
        let hostKeyAlgorithms = KnownHosts.preferred(Self.hostKeyAlgorithms, host: remote.host, port: remote.port)
        for list in [Self.kexAlgorithms, hostKeyAlgorithms, Self.ciphers, Self.ciphers, ["hmac-sha2-256"], ["hmac-sha2-256"],
                     ["none"], ["none"], [], []] {
            kexinit.string(list.joined(separator: ","))
        }
        kexinit.bool(false)
        kexinit.u32(0)
        try send(kexinit.data)
        var serverInit = given ?? []
        while serverInit.isEmpty {
            let m = try receive()
            if m.first == 20 { serverInit = m; break }
            guard !sessionID.isEmpty else { throw GitError("SSH \(name): expected the key exchange, got message \(m.first ?? 0)") }
            queued.append(m)
        }
        var r = SSHReader(serverInit)
        r.i = 17
        var offered: [[String]] = []
        for _ in 0..<10 { offered.append(try r.text().split(separator: ",").map(String.init)) }
        func pick(_ ours: [String], _ theirs: [String], _ what: String) throws -> String {
            guard let chosen = ours.first(where: theirs.contains) else {
                throw GitError("SSH \(name): no common \(what) (the server offers \(theirs.joined(separator: ", ")); gvmc supports \(ours.joined(separator: ", ")))")
            }
            return chosen
        }
        _ = try pick(Self.kexAlgorithms, offered[0], "key exchange")
        let hostKeyAlgorithm = try pick(hostKeyAlgorithms, offered[1], "host key type")
        let outCipher = try pick(Self.ciphers, offered[2], "cipher")
        let inCipher = try pick(Self.ciphers, offered[3], "cipher")
        _ = try pick(["none"], offered[6], "compression")
        _ = try pick(["none"], offered[7], "compression")

        let ephemeral = Curve25519.KeyAgreement.PrivateKey()
        var ecdhInit = SSHWriter()
        ecdhInit.byte(30)
        ecdhInit.string(Array(ephemeral.publicKey.rawRepresentation))
        try send(ecdhInit.data)
        let reply = try receive()
        guard reply.first == 31 else { throw GitError("SSH \(name): expected the key exchange reply, got message \(reply.first ?? 0)") }
        var rr = SSHReader(reply)
        _ = try rr.byte()
        let hostKey = try rr.bytes(), serverPublic = try rr.bytes(), signature = try rr.bytes()
        let shared = try ephemeral.sharedSecretFromKeyAgreement(with: .init(rawRepresentation: serverPublic))
        var secret = SSHWriter()
        secret.mpint(shared.withUnsafeBytes { Array($0) })
        var exchange = SSHWriter()
        exchange.string(versions.client); exchange.string(versions.server)
        exchange.string(kexinit.data); exchange.string(serverInit)
        exchange.string(hostKey); exchange.string(Array(ephemeral.publicKey.rawRepresentation)); exchange.string(serverPublic)
        let h = Array(SHA256.hash(data: exchange.data + secret.data))
        try verifyHostKey(hostKey, algorithm: hostKeyAlgorithm, signature: signature, over: h)
        if sessionID.isEmpty {
            try KnownHosts.check(host: remote.host, port: remote.port, key: hostKey)
            sessionID = h
            self.hostKey = hostKey
        } else if hostKey != self.hostKey {
            throw GitError("SSH \(name): the server showed another host key when re-keying: refused")
        }
        func derive(_ letter: Character, _ count: Int) -> [UInt8] {
            Array(SHA256.hash(data: secret.data + h + [letter.asciiValue!] + sessionID).prefix(count))
        }
        let outKey = outCipher.hasPrefix("aes256") ? 32 : 16, inKey = inCipher.hasPrefix("aes256") ? 32 : 16
        try send([21])  // NEWKEYS: what we send next is sealed with the new keys
        outgoing = (SymmetricKey(data: derive("C", outKey)), derive("A", 12))
        guard try receive().first == 21 else { throw GitError("SSH \(name): the key exchange did not finish") }
        incoming = (SymmetricKey(data: derive("D", inKey)), derive("B", 12))
        sinceKeys = 0
    }

    func verifyHostKey(_ blob: [UInt8], algorithm: String, signature: [UInt8], over h: [UInt8]) throws {
        var k = SSHReader(blob), s = SSHReader(signature)
        let keyType = try k.text(), signatureType = try s.text()
        let raw = try s.bytes()
        guard keyType == (algorithm.hasPrefix("rsa-sha2-") ? "ssh-rsa" : algorithm), signatureType == algorithm else {
            throw GitError("SSH \(name): the server's host key is \(keyType), signed as \(signatureType)")
        }
        let valid: Bool
        switch algorithm {
        case "rsa-sha2-512", "rsa-sha2-256":
            let e = try k.bytes(), n = try k.bytes()
            let key = try _RSA.Signing.PublicKey(n: Array(n.drop { $0 == 0 }), e: Array(e.drop { $0 == 0 }))
            let rsa = _RSA.Signing.RSASignature(rawRepresentation: raw)
            valid = algorithm == "rsa-sha2-512"
                ? key.isValidSignature(rsa, for: SHA512.hash(data: h), padding: .insecurePKCS1v1_5)
                : key.isValidSignature(rsa, for: SHA256.hash(data: h), padding: .insecurePKCS1v1_5)
        case "ssh-ed25519":
            valid = try Curve25519.Signing.PublicKey(rawRepresentation: try k.bytes()).isValidSignature(raw, for: h)
        default:
            _ = try k.bytes()  // the curve's name
            let point = try k.bytes()
            var rs = SSHReader(raw)
            let r = Array(try rs.bytes().drop { $0 == 0 }), sv = Array(try rs.bytes().drop { $0 == 0 })
            func padded(_ b: [UInt8], _ n: Int) -> [UInt8] { [UInt8](repeating: 0, count: max(0, n - b.count)) + b.suffix(n) }
            switch algorithm {
            case "ecdsa-sha2-nistp256":
                valid = try P256.Signing.PublicKey(x963Representation: point)
                    .isValidSignature(try P256.Signing.ECDSASignature(rawRepresentation: padded(r, 32) + padded(sv, 32)), for: h)
            case "ecdsa-sha2-nistp384":
                valid = try P384.Signing.PublicKey(x963Representation: point)
                    .isValidSignature(try P384.Signing.ECDSASignature(rawRepresentation: padded(r, 48) + padded(sv, 48)), for: h)
            default:
                valid = try P521.Signing.PublicKey(x963Representation: point)
                    .isValidSignature(try P521.Signing.ECDSASignature(rawRepresentation: padded(r, 66) + padded(sv, 66)), for: h)
            }
        }
        guard valid else { throw GitError("SSH \(name): the server's signature of the key exchange is not valid") }
    }

    // MARK: user authentication

    func authenticate(_ agentPath: String) throws {
        var request = SSHWriter()
        request.byte(5)
        request.string("ssh-userauth")
        try send(request.data)
        guard try receive().first == 6 else { throw GitError("SSH \(name): the server refused user authentication") }
        let agent = try SSHAgentClient(agentPath)
        let keys = try agent.identities()
        guard !keys.isEmpty else { throw GitError("SSH \(name): the SSH agent (--ssh default) holds no keys") }
        for key in keys {
            var kr = SSHReader(key)
            let type = try kr.text()
            let algorithm = type == "ssh-rsa" ? "rsa-sha2-512" : type
            var signed = SSHWriter()
            signed.string(sessionID)
            signed.byte(50)
            signed.string(remote.user); signed.string("ssh-connection"); signed.string("publickey")
            signed.bool(true)
            signed.string(algorithm); signed.string(key)
            let signature = try agent.sign(key, signed.data, flags: type == "ssh-rsa" ? 4 : 0)
            var message = SSHWriter()
            message.data = Array(signed.data.dropFirst(4 + sessionID.count))
            message.string(signature)
            try send(message.data)
            while true {
                let answer = try receive()
                switch answer.first {
                case 52: return
                case 53: continue  // a banner
                case 51: break
                default: throw GitError("SSH \(name): unexpected message \(answer.first ?? 0) during authentication")
                }
                break
            }
        }
        throw GitError("SSH \(name): permission denied: the server accepted none of the agent's \(keys.count) \(keys.count == 1 ? "key" : "keys")")
    }

    // MARK: the channel

    func start(_ command: String) throws {
        var open = SSHWriter()
        open.byte(90); open.string("session"); open.u32(0); open.u32(Self.window); open.u32(32768)
        try send(open.data)
        let confirm = try receive()
        var r = SSHReader(confirm)
        switch try r.byte() {
        case 91:
            _ = try r.u32()
            remoteChannel = try r.u32()
            remoteWindow = Int(try r.u32())
            remoteMaxPacket = max(1024, min(Int(try r.u32()), 32768))
        case 92:
            _ = try r.u32(); _ = try r.u32()
            throw GitError("SSH \(name): the server refused a session: \((try? r.text()) ?? "")")
        default:
            throw GitError("SSH \(name): unexpected message \(confirm.first ?? 0) opening a session")
        }
        var exec = SSHWriter()
        exec.byte(98); exec.u32(remoteChannel); exec.string("exec"); exec.bool(true); exec.string(command)
        try send(exec.data)
        while true {
            let m = try receive()
            switch m.first {
            case 99: return
            case 100: throw GitError("SSH \(name): the server refused to run \(command)")
            case 93:
                var w = SSHReader(m); _ = try w.byte(); _ = try w.u32()
                remoteWindow += Int(try w.u32())
            default:
                throw GitError("SSH \(name): unexpected message \(m.first ?? 0) starting \(command)")
            }
        }
    }

    /// The command's next output; nil once it has finished (its stderr is kept in `stderr`).
    func read() throws -> [UInt8]? {
        while !closed {
            let m = try receive()
            var r = SSHReader(m)
            switch try r.byte() {
            case 94:  // DATA
                _ = try r.u32()
                let data = try r.bytes()
                try credit(data.count)
                return data
            case 95:  // EXTENDED_DATA (stderr)
                _ = try r.u32(); _ = try r.u32()
                let data = try r.bytes()
                try credit(data.count)
                if stderr.count < 65536 { stderr += data }
            case 93:
                _ = try r.u32()
                remoteWindow += Int(try r.u32())
            case 98:  // exit-status and the like
                _ = try r.u32()
                if try r.text() == "exit-status" { _ = try r.byte(); exitStatus = try r.u32() }
            case 96:  // EOF
                continue
            case 97:  // CLOSE
                closed = true
            default:
                continue
            }
        }
        return nil
    }

    /// Opens the window again once half of it is used.
    func credit(_ n: Int) throws {
        consumed += n
        guard consumed >= Int(Self.window) / 2 else { return }
        var adjust = SSHWriter()
        adjust.byte(93); adjust.u32(remoteChannel); adjust.u32(UInt32(consumed))
        consumed = 0
        try send(adjust.data)
    }

    func write(_ bytes: [UInt8]) throws {
        var at = 0
        while at < bytes.count {
            while remoteWindow <= 0 {
                let m = try receive()
                var r = SSHReader(m)
                guard try r.byte() == 93 else { throw GitError("SSH \(name): the server stopped reading") }
                _ = try r.u32()
                remoteWindow += Int(try r.u32())
            }
            let n = min(bytes.count - at, remoteMaxPacket - 64, remoteWindow)
            var data = SSHWriter()
            data.byte(94); data.u32(remoteChannel); data.string(bytes[at..<at + n])
            try send(data.data)
            remoteWindow -= n
            at += n
        }
    }

    /// What the server said on stderr, for error messages.
    var serverMessage: String { String(decoding: stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) }
}
