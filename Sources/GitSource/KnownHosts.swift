// The host-key policy of git over SSH (SSHSession): ~/.ssh/known_hosts and /etc/ssh/ssh_known_hosts
// read as OpenSSH reads them, and what the key exchange offers and accepts because of them.
import Crypto
import Foundation
import SSHAgent

/// known_hosts (OpenSSH's format: plain and hashed host names, [host]:port, * and ? patterns,
/// !negation, @revoked): a host listed with keys none of which is the server's is refused,
/// whatever their types; a revoked key is refused; a host not listed is accepted (as BuildKit
/// does).
enum KnownHosts {
    /// The files a test reads instead of the user's and the system's.
    @TaskLocal static var override: [String]?

    static var files: [String] {
        if let override { return override }
        let home = ProcessInfo.processInfo.environment["HOME"] ?? ""
        return (home.isEmpty ? [] : [home + "/.ssh/known_hosts"]) + ["/etc/ssh/ssh_known_hosts"]
    }

    /// One key listed for a host: its type, the key blob, whether it is @revoked, and where.
    struct Entry { var type: String; var key: [UInt8]; var revoked: Bool; var location: String }

    /// Every key the files list for `host` (on `port`); @cert-authority lines are skipped.
    static func entries(host: String, port: Int) -> [Entry] {
        var out: [Entry] = []
        for file in files {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
            for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                var fields = raw.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
                guard !fields.isEmpty, !fields[0].hasPrefix("#") else { continue }
                var revoked = false
                if fields[0].hasPrefix("@") {
                    if fields[0] == "@revoked" { revoked = true } else { continue }  // @cert-authority
                    fields.removeFirst()
                }
                guard fields.count >= 3, matches(fields[0], host: host, port: port) else { continue }
                out.append(
                    Entry(
                        type: fields[1], key: Data(base64Encoded: fields[2]).map(Array.init) ?? [], revoked: revoked,
                        location: "\(file):\(n + 1)"))
            }
        }
        return out
    }

    /// `algorithms` (ours, in our order) with those whose key type the files list for the host
    /// first, as OpenSSH orders them: a server with several host keys then shows the pinned one.
    static func preferred(_ algorithms: [String], host: String, port: Int) -> [String] {
        let listed = Set(entries(host: host, port: port).filter { !$0.revoked }.map(\.type))
        let known = algorithms.filter { listed.contains($0.hasPrefix("rsa-sha2-") ? "ssh-rsa" : $0) }
        return known + algorithms.filter { !known.contains($0) }
    }

    /// Accepts `key` for the host, as `ssh -o StrictHostKeyChecking=yes` would once a host is
    /// listed: a revoked key is refused; a host listed with keys (of any type) none of which is
    /// the server's is refused; a host not listed is accepted (as BuildKit does).
    static func check(host: String, port: Int, key: [UInt8]) throws {
        var reader = SSHReader(key)
        let type = (try? reader.text()) ?? ""
        let listed = entries(host: host, port: port)
        if let revoked = listed.first(where: { $0.revoked && $0.key == key }) {
            throw GitError("SSH \(host): the server's host key is revoked in \(revoked.location)")
        }
        let pinned = listed.filter { !$0.revoked }
        guard !pinned.isEmpty, !pinned.contains(where: { $0.key == key }) else { return }
        let same = pinned.first { $0.type == type }
        let other = same == nil ? " (\(Set(pinned.map(\.type)).sorted().joined(separator: ", ")), and the server shows no such key)" : ""
        throw GitError(
            "SSH \(host): the server's \(type) host key is not the one \((same ?? pinned[0]).location) lists for it\(other): "
                + "refused (the host key changed, or someone is in the middle)")
    }

    static func matches(_ patterns: String, host: String, port: Int) -> Bool {
        let name = port == 22 ? host : "[\(host)]:\(port)"
        if patterns.hasPrefix("|1|") {
            let parts = patterns.split(separator: "|")
            guard parts.count == 3, let salt = Data(base64Encoded: String(parts[1])), let hash = Data(base64Encoded: String(parts[2]))
            else { return false }
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(name.utf8), using: SymmetricKey(data: salt))
            return Data(mac) == hash
        }
        var matched = false
        for pattern in patterns.split(separator: ",") {
            let negated = pattern.hasPrefix("!")
            let p = negated ? String(pattern.dropFirst()) : String(pattern)
            if glob(Array(p.lowercased().utf8)[...], Array(name.lowercased().utf8)[...]) {
                if negated { return false }
                matched = true
            }
        }
        return matched
    }

    /// OpenSSH's host patterns: `*` and `?` are the only wildcards (`[` is literal).
    static func glob(_ p: ArraySlice<UInt8>, _ s: ArraySlice<UInt8>) -> Bool {
        guard let first = p.first else { return s.isEmpty }
        if first == UInt8(ascii: "*") {
            var rest = s
            while true {
                if glob(p.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        }
        guard let c = s.first, first == UInt8(ascii: "?") || first == c else { return false }
        return glob(p.dropFirst(), s.dropFirst())
    }
}
