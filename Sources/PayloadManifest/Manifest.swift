// The Computation Payload Manifest (GAP-5): the JSON document a requestor sends with its demand to
// name the image by hash and to ask for outbound internet. Field names and shapes as yagna's
// manifest-utils (AppManifest) reads them and yapapi's `Manifest.parse_obj` loads them.
import Foundation

/// A Computation Payload Manifest. Decoding refuses unknown keys (yapapi's model does; a misspelt
/// key would otherwise be dropped without a word) and mistyped values, naming the JSON path.
public struct PayloadManifest: Decodable, Equatable, Sendable {
    /// The manifest format version (semver); GAP-5 defines 0.1.0.
    public var version: String
    public var createdAt: Date
    public var expiresAt: Date
    public var metadata: Metadata?
    public var payload: [Payload]
    public var compManifest: CompManifest?

    public static let formatVersion = "0.1.0"

    public init(
        version: String = PayloadManifest.formatVersion, createdAt: Date, expiresAt: Date,
        metadata: Metadata? = nil, payload: [Payload], compManifest: CompManifest? = nil
    ) {
        self.version = version
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.metadata = metadata
        self.payload = payload
        self.compManifest = compManifest
    }

    /// `metadata`: the payload's name, version, description, authors and homepage.
    public struct Metadata: Decodable, Equatable, Sendable {
        public var name: String
        public var description: String?
        public var version: String
        public var authors: [String]?
        public var homepage: String?

        public init(name: String, description: String? = nil, version: String, authors: [String]? = nil, homepage: String? = nil) {
            self.name = name
            self.description = description
            self.version = version
            self.authors = authors
            self.homepage = homepage
        }
    }

    /// The platform a payload is for (architecture, OS and OS version).
    public struct Platform: Decodable, Equatable, Sendable {
        public var arch: String
        public var os: String
        public var osVersion: String?

        public init(arch: String = "x86_64", os: String = "linux", osVersion: String? = nil) {
            self.arch = arch
            self.os = os
            self.osVersion = osVersion
        }
    }

    /// One entry of `payload`: the image's hash, its download URLs and platform.
    public struct Payload: Decodable, Equatable, Sendable {
        public var platform: Platform?
        /// Where providers download the image from; they take the first.
        public var urls: [String]
        /// `sha3:<56 hex digits>`: the image's SHA3-224.
        public var hash: String

        public init(platform: Platform? = Platform(), urls: [String], hash: String) {
            self.platform = platform
            self.urls = urls
            self.hash = hash
        }
    }

    /// `compManifest`: what the task may run (`script`) and reach (`net`).
    public struct CompManifest: Decodable, Equatable, Sendable {
        public var version: String
        public var script: Script?
        public var net: Net?

        public init(version: String = PayloadManifest.formatVersion, script: Script? = nil, net: Net? = nil) {
            self.version = version
            self.script = script
            self.net = net
        }
    }

    /// `compManifest.script`: the ExeScript commands allowed and how they are matched.
    public struct Script: Decodable, Equatable, Sendable {
        /// ExeScript commands allowed (`run .*`, `transfer .*`, or a JSON command object as a string).
        public var commands: [String]
        public var match: Match

        /// How `commands` are matched: exactly (`strict`) or as regular expressions.
        public enum Match: String, Decodable, Sendable, CaseIterable { case strict, regex }

        public init(commands: [String], match: Match) {
            self.commands = commands
            self.match = match
        }
    }

    /// `compManifest.net`: the task's network access.
    public struct Net: Decodable, Equatable, Sendable {
        public var inet: Inet?
        public init(inet: Inet?) { self.inet = inet }
    }

    /// `compManifest.net.inet`: the task's internet access (outbound only).
    public struct Inet: Decodable, Equatable, Sendable {
        public var out: Outbound?
        public init(out: Outbound?) { self.out = out }
    }

    /// `compManifest.net.inet.out`: the allowed protocols and either a list of URLs or `unrestricted`.
    public struct Outbound: Equatable, Sendable {
        public var protocols: [String]
        public var access: Access

        /// Which hosts outbound traffic may reach: the listed URLs, or any.
        public enum Access: Equatable, Sendable {
            case urls([String])
            /// `"unrestricted": {"urls": true}`: any host (providers accept it only from authors they trust).
            case unrestricted
        }

        public static let defaultProtocols = ["http", "https", "ws", "wss"]

        public init(protocols: [String] = Outbound.defaultProtocols, access: Access) {
            self.protocols = protocols
            self.access = access
        }
    }
}

// MARK: - JSON coding

extension PayloadManifest {
    /// The manifest as written by `gvmc manifest create`: two-space indentation, keys in the order
    /// of the format's documentation, a final newline. The same manifest always gives the same bytes.
    public func jsonBytes() -> [UInt8] {
        var out = ""
        jsonValue.write(to: &out, indent: "")
        return Array((out + "\n").utf8)
    }

    /// Parses a manifest; errors name the JSON path of the first problem (`payload[0].hash: ...`).
    public init(json: [UInt8]) throws(ManifestError) {
        do {
            self = try JSONDecoder().decode(PayloadManifest.self, from: Data(json))
        } catch let error as DecodingError {
            throw ManifestError.schema(Self.describe(error))
        } catch let error as ManifestError {
            throw error
        } catch {
            throw ManifestError.schema("not JSON: \(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [CodingKey]) -> String {
            var s = ""
            for key in path {
                if let i = key.intValue { s += "[\(i)]" } else { s += (s.isEmpty ? "" : ".") + key.stringValue }
            }
            return s.isEmpty ? "the document" : s
        }
        switch error {
        case .typeMismatch(let type, let c):
            return "\(at(c.codingPath)): expected \(Self.typeName(type))"
        case .valueNotFound(let type, let c):
            return "\(at(c.codingPath)): expected \(Self.typeName(type)), found null"
        case .keyNotFound(let key, let c):
            return "\(at(c.codingPath + [key])): missing (required)"
        case .dataCorrupted(let c):
            if c.codingPath.isEmpty, let underlying = c.underlyingError {
                return "not valid JSON: \(underlying.localizedDescription)"
            }
            return "\(at(c.codingPath)): \(c.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is [String].Type: return "an array of strings"
        default:
            let name = String(describing: type)
            return name.hasPrefix("Array") ? "an array" : (name.hasPrefix("Dictionary") ? "an object" : "a JSON \(name)")
        }
    }
}

/// Any key, to list what an object holds.
struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Refuses keys outside `known`, suggesting the closest known one.
func rejectUnknownKeys(_ decoder: Decoder, known: [String]) throws {
    let all = try decoder.container(keyedBy: AnyKey.self).allKeys
    for key in all where !known.contains(key.stringValue) {
        let near = known.min { editDistance($0, key.stringValue) < editDistance($1, key.stringValue) }
        let hint = near.map { editDistance($0, key.stringValue) <= 3 ? " (did you mean \"\($0)\"?)" : "" } ?? ""
        throw DecodingError.dataCorrupted(
            .init(
                codingPath: decoder.codingPath + [key],
                debugDescription: "unknown key\(hint); known here: \(known.joined(separator: ", "))"))
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a.lowercased()), b = Array(b.lowercased())
    if a.isEmpty { return b.count }
    var row = Array(0...b.count)
    for i in 1...a.count {
        var previous = row[0]
        row[0] = i
        for j in stride(from: 1, through: b.count, by: 1) {
            let old = row[j]
            row[j] = min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] == b[j - 1] ? 0 : 1))
            previous = old
        }
    }
    return row[b.count]
}

/// RFC 3339 times: written as `2026-12-04T13:00:00Z`; read with or without fractional seconds and
/// with any offset, as yagna (chrono) and yapapi read them.
public enum ManifestTime {
    public static func string(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        f.timeZone = TimeZone(identifier: "UTC")
        return f.string(from: date)
    }

    public static func parse(_ text: String) -> Date? {
        let plain = ISO8601DateFormatter()
        plain.formatOptions = [.withInternetDateTime]
        if let d = plain.date(from: text) { return d }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let d = fractional.date(from: text) { return d }
        // ISO8601DateFormatter reads at most millisecond fractions on some platforms: drop the
        // digits past the third (yagna's own examples write microseconds).
        if let dot = text.firstIndex(of: "."), let end = text[dot...].firstIndex(where: { !$0.isNumber && $0 != "." }) {
            let digits = text[text.index(after: dot)..<end]
            if digits.count > 3 {
                let trimmed = String(text[..<dot]) + "." + digits.prefix(3) + String(text[end...])
                return fractional.date(from: trimmed)
            }
        }
        return nil
    }
}

extension PayloadManifest {
    enum Keys: String, CodingKey, CaseIterable { case version, createdAt, expiresAt, metadata, payload, compManifest }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        version = try c.decode(String.self, forKey: .version)
        createdAt = try Self.decodeTime(c, .createdAt)
        expiresAt = try Self.decodeTime(c, .expiresAt)
        metadata = try c.decodeIfPresent(Metadata.self, forKey: .metadata)
        payload = try c.decode([Payload].self, forKey: .payload)
        compManifest = try c.decodeIfPresent(CompManifest.self, forKey: .compManifest)
    }

    private static func decodeTime(_ c: KeyedDecodingContainer<Keys>, _ key: Keys) throws -> Date {
        let text = try c.decode(String.self, forKey: key)
        guard let date = ManifestTime.parse(text) else {
            throw DecodingError.dataCorruptedError(
                forKey: key, in: c,
                debugDescription: "\"\(text)\" is not an RFC 3339 time (e.g. 2026-12-04T13:00:00Z)")
        }
        return date
    }

}

extension PayloadManifest.Metadata {
    enum Keys: String, CodingKey, CaseIterable { case name, description, version, authors, homepage }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        name = try c.decode(String.self, forKey: .name)
        description = try c.decodeIfPresent(String.self, forKey: .description)
        version = try c.decode(String.self, forKey: .version)
        authors = try c.decodeIfPresent([String].self, forKey: .authors)
        homepage = try c.decodeIfPresent(String.self, forKey: .homepage)
    }
}

extension PayloadManifest.Platform {
    enum Keys: String, CodingKey, CaseIterable { case arch, os, osVersion }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        arch = try c.decode(String.self, forKey: .arch)
        os = try c.decode(String.self, forKey: .os)
        osVersion = try c.decodeIfPresent(String.self, forKey: .osVersion)
    }
}

extension PayloadManifest.Payload {
    enum Keys: String, CodingKey, CaseIterable { case platform, urls, hash }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        platform = try c.decodeIfPresent(PayloadManifest.Platform.self, forKey: .platform)
        urls = try c.decode([String].self, forKey: .urls)
        hash = try c.decode(String.self, forKey: .hash)
    }
}

extension PayloadManifest.CompManifest {
    enum Keys: String, CodingKey, CaseIterable { case version, script, net }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        version = try c.decode(String.self, forKey: .version)
        script = try c.decodeIfPresent(PayloadManifest.Script.self, forKey: .script)
        net = try c.decodeIfPresent(PayloadManifest.Net.self, forKey: .net)
    }
}

extension PayloadManifest.Script {
    enum Keys: String, CodingKey, CaseIterable { case commands, match }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        commands = try c.decode([String].self, forKey: .commands)
        let text = try c.decodeIfPresent(String.self, forKey: .match) ?? "strict"
        guard let m = Match(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                forKey: .match, in: c, debugDescription: "\"\(text)\" is neither \"strict\" nor \"regex\"")
        }
        match = m
    }
}

extension PayloadManifest.Net {
    enum Keys: String, CodingKey, CaseIterable { case inet }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        inet = try decoder.container(keyedBy: Keys.self).decodeIfPresent(PayloadManifest.Inet.self, forKey: .inet)
    }
}

extension PayloadManifest.Inet {
    enum Keys: String, CodingKey, CaseIterable { case out }
    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        out = try decoder.container(keyedBy: Keys.self).decodeIfPresent(PayloadManifest.Outbound.self, forKey: .out)
    }
}

extension PayloadManifest.Outbound: Decodable {
    enum Keys: String, CodingKey, CaseIterable { case protocols, urls, unrestricted }
    enum UnrestrictedKeys: String, CodingKey, CaseIterable { case urls }

    public init(from decoder: Decoder) throws {
        try rejectUnknownKeys(decoder, known: Keys.allCases.map(\.rawValue))
        let c = try decoder.container(keyedBy: Keys.self)
        protocols = try c.decodeIfPresent([String].self, forKey: .protocols) ?? Self.defaultProtocols
        let urls = try c.decodeIfPresent([String].self, forKey: .urls)
        var unrestricted = false
        if c.contains(.unrestricted) {
            let u = try c.superDecoder(forKey: .unrestricted)
            try rejectUnknownKeys(u, known: UnrestrictedKeys.allCases.map(\.rawValue))
            let inner = try u.container(keyedBy: UnrestrictedKeys.self)
            unrestricted = try inner.decode(Bool.self, forKey: .urls)
            if !unrestricted {
                throw DecodingError.dataCorruptedError(
                    forKey: .urls, in: inner,
                    debugDescription: "false is not a value providers read; list the hosts in \"urls\" instead")
            }
        }
        switch (urls, unrestricted) {
        case (let list?, false): access = .urls(list)
        case (nil, true): access = .unrestricted
        case (_?, true):
            throw DecodingError.dataCorruptedError(
                forKey: .unrestricted, in: c,
                debugDescription: "\"urls\" and \"unrestricted\" exclude each other: keep one")
        case (nil, false):
            throw DecodingError.dataCorruptedError(
                forKey: .urls, in: c,
                debugDescription:
                    "neither \"urls\" nor \"unrestricted\": list the URLs the task may reach, or write \"unrestricted\": {\"urls\": true}")
        }
    }

}
