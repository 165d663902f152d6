// Image references exactly as Docker parses them (distribution/reference): `alpine` →
// docker.io/library/alpine:latest, `host:port/a/b:tag`, `@sha256:...` digests, tag+digest,
// `localhost` registries. The registry client (issue 4) starts from here.

/// A parsed image reference: registry, repository, tag and digest, with Docker's defaults.
public struct ImageReference: Sendable, Hashable, CustomStringConvertible {
    /// Registry host (with port), e.g. `docker.io`, `ghcr.io`, `localhost:5000`.
    public var registry: String
    /// Repository path, e.g. `library/alpine`.
    public var repository: String
    public var tag: String?
    /// `algorithm:hex`.
    public var digest: String?

    public static let defaultRegistry = "docker.io"

    /// Parses and normalises a reference; errors say what is wrong with it.
    public init(_ text: String) throws(ReferenceError) {
        guard !text.isEmpty else { throw ReferenceError(text, "empty reference") }
        guard text.count <= 4096 else { throw ReferenceError(text, "reference is too long") }
        var rest = Substring(text)
        if let at = rest.firstIndex(of: "@") {
            let d = String(rest[rest.index(after: at)...])
            try ImageReference.validateDigest(d, text)
            digest = d
            rest = rest[..<at]
        }
        // A tag is after the last ':' that comes after the last '/'.
        let lastSlash = rest.lastIndex(of: "/")
        if let colon = rest.lastIndex(of: ":"), lastSlash.map({ colon > $0 }) ?? true {
            let t = String(rest[rest.index(after: colon)...])
            guard ImageReference.isValidTag(t) else { throw ReferenceError(text, "invalid tag \"\(t)\"") }
            tag = t
            rest = rest[..<colon]
        }
        let components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard let first = components.first, !first.isEmpty else { throw ReferenceError(text, "missing repository name") }
        var path = components
        if components.count > 1 && (first.contains(".") || first.contains(":") || first == "localhost" || first != first.lowercased()) {
            registry = first
            path.removeFirst()
            guard ImageReference.isValidHost(first) else { throw ReferenceError(text, "invalid registry host \"\(first)\"") }
        } else {
            registry = ImageReference.defaultRegistry
        }
        if registry == "index.docker.io" { registry = ImageReference.defaultRegistry }
        for c in path {
            guard ImageReference.isValidComponent(c) else {
                throw ReferenceError(
                    text,
                    c.isEmpty
                        ? "empty path component"
                        : (c != c.lowercased() ? "repository name must be lowercase" : "invalid path component \"\(c)\""))
            }
        }
        if registry == ImageReference.defaultRegistry && path.count == 1 { path.insert("library", at: 0) }
        repository = path.joined(separator: "/")
        guard repository.count <= 255 else { throw ReferenceError(text, "repository name must not be more than 255 characters") }
        if tag == nil && digest == nil { tag = "latest" }
    }

    /// `docker.io/library/alpine:3.19@sha256:...`.
    public var description: String {
        registry + "/" + repository + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// Docker's short form: `alpine:3.19`, `user/app:1`, `ghcr.io/org/x:tag`.
    public var familiarName: String {
        var name = repository
        if registry == ImageReference.defaultRegistry {
            if name.hasPrefix("library/") { name.removeFirst(8) }
        } else {
            name = registry + "/" + name
        }
        return name + (tag.map { ":" + $0 } ?? "") + (digest.map { "@" + $0 } ?? "")
    }

    /// What manifests are fetched by: the digest when pinned, else the tag.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    /// Plain HTTP is allowed by default only for loopback registries, as Docker does.
    public var isLocalhost: Bool {
        let host = registry.split(separator: ":").first.map(String.init) ?? registry
        return host == "localhost" || host == "127.0.0.1" || host == "::1" || host.hasPrefix("127.")
    }

    // MARK: grammar pieces (distribution/reference's regular expressions, hand-written)

    static func isValidTag(_ t: String) -> Bool {
        let b = Array(t.utf8)
        guard !b.isEmpty, b.count <= 128 else { return false }
        func word(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        return word(b[0]) && b.dropFirst().allSatisfy { word($0) || $0 == 0x2E || $0 == 0x2D }
    }

    /// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
    static func isValidComponent(_ c: String) -> Bool {
        let b = Array(c.utf8)
        guard !b.isEmpty else { return false }
        func alnum(_ x: UInt8) -> Bool { (x >= 0x30 && x <= 0x39) || (x >= 0x61 && x <= 0x7A) }
        guard alnum(b[0]), alnum(b[b.count - 1]) else { return false }
        var i = 0
        while i < b.count {
            if alnum(b[i]) { i += 1; continue }
            // A separator: ".", "_", "__" or a run of "-", followed by an alphanumeric.
            var j = i
            if b[j] == 0x2E {
                j += 1
            } else if b[j] == 0x5F {
                j += 1; if j < b.count && b[j] == 0x5F { j += 1 }
            } else if b[j] == 0x2D {
                while j < b.count && b[j] == 0x2D { j += 1 }
            } else {
                return false
            }
            guard j < b.count, alnum(b[j]) else { return false }
            i = j
        }
        return true
    }

    static func isValidHost(_ h: String) -> Bool {
        var host = Substring(h)
        if let colon = host.lastIndex(of: ":"), !host.hasPrefix("[") || host[..<colon].hasSuffix("]") {
            let port = host[host.index(after: colon)...]
            guard !port.isEmpty, port.allSatisfy({ $0.isASCII && $0.isNumber }) else { return false }
            host = host[..<colon]
        }
        if host.hasPrefix("[") { return host.hasSuffix("]") && host.count > 2 }
        return !host.isEmpty
            && host.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { label in
                !label.isEmpty && label.first != "-" && label.last != "-"
                    && label.allSatisfy { ($0.isASCII && ($0.isLetter || $0.isNumber)) || $0 == "-" }
            }
    }

    static func validateDigest(_ d: String, _ text: String) throws(ReferenceError) {
        guard let colon = d.firstIndex(of: ":") else { throw ReferenceError(text, "invalid digest \"\(d)\"") }
        let algorithm = d[..<colon], hex = d[d.index(after: colon)...]
        guard !algorithm.isEmpty, algorithm.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || "+._-".contains($0)) }) else {
            throw ReferenceError(text, "invalid digest algorithm \"\(algorithm)\"")
        }
        let expected = algorithm == "sha256" ? 64 : algorithm == "sha512" ? 128 : nil
        guard hex.allSatisfy({ $0.isHexDigit && !$0.isUppercase }), expected.map({ hex.count == $0 }) ?? (hex.count >= 32) else {
            throw ReferenceError(text, "invalid digest \"\(d)\": \(algorithm) needs \(expected ?? 32) lowercase hex digits")
        }
    }
}

/// An image reference that cannot be parsed, and why.
public struct ReferenceError: Error, Sendable, CustomStringConvertible {
    public var reference: String
    public var reason: String
    init(_ reference: String, _ reason: String) { self.reference = reference; self.reason = reason }
    public var description: String { "invalid image reference \"\(reference)\": \(reason)" }
}
