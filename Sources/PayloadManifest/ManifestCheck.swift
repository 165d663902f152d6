// What a provider (and the SDKs) will hold against a manifest beyond its JSON shape: semver
// versions, dates, the payload hash and URLs, outbound protocols and URLs.
import Foundation

/// What went wrong making or checking a manifest: its JSON, its content, the key, the
/// certificate or a file.
public enum ManifestError: Error, Equatable, CustomStringConvertible {
    /// The JSON does not have the manifest's shape (the message names the JSON path).
    case schema(String)
    /// The manifest parses but providers or the SDKs would refuse it.
    case invalid([ManifestProblem])
    /// The private key cannot be read or used.
    case key(String)
    /// The certificate (chain) cannot be read or does not fit the key.
    case certificate(String)
    /// A file cannot be read or written.
    case file(path: String, String)
    /// A request to build a manifest that cannot be satisfied (conflicting or missing options).
    case request(String)

    public var description: String {
        switch self {
        case .schema(let m): return "manifest: \(m)"
        case .invalid(let problems): return problems.map(\.description).joined(separator: "\n")
        case .key(let m): return "key: \(m)"
        case .certificate(let m): return "certificate: \(m)"
        case .file(let path, let m): return "\(path): \(m)"
        case .request(let m): return m
        }
    }
}

/// One problem found in a manifest, at a JSON path (`payload[0].hash`) or in a named part
/// (`signature`, `certificate`).
public struct ManifestProblem: Equatable, Sendable, CustomStringConvertible {
    public var at: String
    public var message: String
    public init(_ at: String, _ message: String) {
        self.at = at
        self.message = message
    }
    public var description: String { "\(at): \(message)" }
}

extension PayloadManifest {
    /// The hash form providers accept: `sha3:` and the image's SHA3-224 in lowercase hex.
    public static func payloadHash(sha3_224 hex: String) -> String { "sha3:" + hex.lowercased() }

    /// Checks the manifest as providers and the SDKs read it. `now` decides expiry; `imageHash`
    /// (the image's SHA3-224 in hex), when given, must be one of the payloads' hashes.
    public func problems(now: Date, imageHash: String? = nil) -> [ManifestProblem] {
        var found: [ManifestProblem] = []
        func check(_ ok: Bool, _ at: String, _ message: @autoclosure () -> String) {
            if !ok { found.append(ManifestProblem(at, message())) }
        }
        check(
            Semver.isValid(version), "version",
            "\"\(version)\" is not a semantic version (yagna reads it as one; GAP-5 manifests are \(Self.formatVersion))")
        check(
            expiresAt > createdAt, "expiresAt", "\(ManifestTime.string(expiresAt)) is not after createdAt \(ManifestTime.string(createdAt))"
        )
        check(
            expiresAt > now, "expiresAt",
            "the manifest expired at \(ManifestTime.string(expiresAt)) (now \(ManifestTime.string(now))); providers refuse it")
        check(
            createdAt <= now.addingTimeInterval(300), "createdAt",
            "\(ManifestTime.string(createdAt)) is in the future (now \(ManifestTime.string(now))): the manifest is not yet valid")
        if let m = metadata {
            check(!m.name.isEmpty, "metadata.name", "empty")
            check(
                Semver.isValid(m.version), "metadata.version",
                "\"\(m.version)\" is not a semantic version (yagna reads it as one, e.g. 1.0.0)")
        }
        check(!payload.isEmpty, "payload", "no payload: the manifest must name the image (hash and URL)")
        for (i, p) in payload.enumerated() {
            let at = "payload[\(i)]"
            check(
                Self.isPayloadHash(p.hash), at + ".hash",
                "\"\(p.hash)\" is not sha3:<56 hex digits> (providers accept only the image's SHA3-224 in that form)")
            check(!p.urls.isEmpty, at + ".urls", "empty: providers download the image from the first URL and skip a payload without one")
            for (j, url) in p.urls.enumerated() {
                check(Self.isHTTPURL(url), at + ".urls[\(j)]", "\"\(url)\" is not an http(s) URL with a host")
            }
            if let platform = p.platform {
                check(!platform.arch.isEmpty && !platform.os.isEmpty, at + ".platform", "arch and os must not be empty (x86_64, linux)")
            }
        }
        if let hash = imageHash {
            let want = Self.payloadHash(sha3_224: hash)
            check(
                payload.contains { $0.hash.lowercased() == want }, "payload",
                "no payload has the image's hash \(want) (found \(payload.map(\.hash).joined(separator: ", ")))")
        }
        if let comp = compManifest {
            check(Semver.isValid(comp.version), "compManifest.version", "\"\(comp.version)\" is not a semantic version")
            if let script = comp.script {
                check(!script.commands.isEmpty, "compManifest.script.commands", "empty: no ExeScript command would be allowed")
                for (i, command) in script.commands.enumerated() {
                    check(!command.trimmingCharacters(in: .whitespaces).isEmpty, "compManifest.script.commands[\(i)]", "empty command")
                }
            }
            if let out = comp.net?.inet?.out {
                let at = "compManifest.net.inet.out"
                for (i, p) in out.protocols.enumerated() {
                    check(
                        Outbound.defaultProtocols.contains(p), at + ".protocols[\(i)]",
                        "\"\(p)\" is not one of \(Outbound.defaultProtocols.joined(separator: ", "))")
                }
                if case .urls(let urls) = out.access {
                    check(!urls.isEmpty, at + ".urls", "empty: no host would be reachable (use unrestricted for any host)")
                    for (i, url) in urls.enumerated() {
                        if let parsed = URLComponents(string: url), let scheme = parsed.scheme?.lowercased(), let host = parsed.host,
                            !host.isEmpty
                        {
                            check(
                                out.protocols.contains(scheme), at + ".urls[\(i)]",
                                "\"\(url)\": its scheme \(scheme) is not among the protocols (\(out.protocols.joined(separator: ", ")))")
                        } else {
                            check(false, at + ".urls[\(i)]", "\"\(url)\" is not a URL with a scheme and a host")
                        }
                    }
                }
            }
        }
        return found
    }

    static func isPayloadHash(_ s: String) -> Bool {
        guard s.hasPrefix("sha3:") else { return false }
        let hex = s.dropFirst(5)
        return hex.count == 56 && hex.allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static func isHTTPURL(_ s: String) -> Bool {
        guard let c = URLComponents(string: s), let scheme = c.scheme?.lowercased(), let host = c.host else { return false }
        return (scheme == "http" || scheme == "https") && !host.isEmpty
    }
}

/// Semantic versions as the Rust `semver` crate (yagna) parses them: MAJOR.MINOR.PATCH without
/// leading zeros, optional -prerelease and +build.
enum Semver {
    static func isValid(_ s: String) -> Bool {
        var core = Substring(s)
        if let plus = core.firstIndex(of: "+") {
            let build = core[core.index(after: plus)...]
            guard identifiers(build, numericLeadingZeroOK: true) else { return false }
            core = core[..<plus]
        }
        if let dash = core.firstIndex(of: "-") {
            guard identifiers(core[core.index(after: dash)...], numericLeadingZeroOK: false) else { return false }
            core = core[..<dash]
        }
        let parts = core.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3
            && parts.allSatisfy { p in
                !p.isEmpty && p.allSatisfy(\.isASCII) && p.allSatisfy(\.isNumber) && (p == "0" || p.first != "0")
            }
    }

    private static func identifiers(_ s: Substring, numericLeadingZeroOK: Bool) -> Bool {
        let ids = s.split(separator: ".", omittingEmptySubsequences: false)
        return !ids.isEmpty
            && ids.allSatisfy { id in
                guard !id.isEmpty, id.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }) else { return false }
                if !numericLeadingZeroOK, id.allSatisfy(\.isNumber), id.count > 1, id.first == "0" { return false }
                return true
            }
    }
}
