// `gvmc manifest create`'s options as a value: what the image is, where it is downloaded from,
// what the task may reach, for how long. Defaults as the SDK helpers (yapapi's Manifest model,
// golem-sdk-cli's `manifest create`).
import Foundation

/// What `gvmc manifest create` puts in a manifest: image hash, URLs, outbound access, dates.
public struct ManifestRequest: Sendable {
    /// The image's SHA3-224 in hex (from the .gvmi, `--hash` or the registry).
    public var imageHash: String
    /// Download URLs of the image; providers take the first.
    public var urls: [String] = []
    /// Hosts the task may reach (`--outbound`); empty with `outboundAny` false: no network section.
    public var outbound: [String] = []
    /// `unrestricted.urls: true` (`--outbound-any`).
    public var outboundAny = false
    /// Outbound protocols; nil: http, https, ws, wss.
    public var protocols: [String]? = nil
    /// Allowed ExeScript commands; nil with outbound access: `run .*` and `transfer .*` as regexes.
    public var commands: [String]? = nil
    public var match: PayloadManifest.Script.Match? = nil
    public var createdAt: Date
    /// nil: `createdAt` + `defaultLifetime`.
    public var expiresAt: Date? = nil
    public var name: String? = nil
    public var description: String? = nil
    public var version: String? = nil
    public var authors: [String] = []
    public var homepage: String? = nil
    public var platform = PayloadManifest.Platform()

    /// 90 days, as golem-sdk-cli's `manifest create`.
    public static let defaultLifetime: TimeInterval = 90 * 86_400
    /// The script written when outbound access is asked for and no command is given: every `run`
    /// and every file transfer stay allowed (a computation manifest without a script allows only
    /// deploy, start and terminate, according to Golem's documentation).
    public static let defaultCommands = ["run .*", "transfer .*"]

    public init(imageHash: String, createdAt: Date) {
        self.imageHash = imageHash
        self.createdAt = createdAt
    }

    /// The manifest, checked as `gvmc manifest verify` would check it at `createdAt`.
    public func manifest() throws(ManifestError) -> PayloadManifest {
        let hash = imageHash.lowercased().hasPrefix("sha3:") ? String(imageHash.dropFirst(5)) : imageHash
        guard hash.count == 56, hash.allSatisfy(\.isHexDigit) else {
            throw .request("image hash \"\(imageHash)\" is not a SHA3-224 (56 hex digits, as `gvmc inspect` and `gvmc push` print it)")
        }
        guard !urls.isEmpty else {
            throw .request(
                "the payload needs the URL providers download the image from: give --url (the download URL `gvmc push` printed) or --tag")
        }
        if outboundAny && !outbound.isEmpty {
            throw .request("--outbound and --outbound-any exclude each other (a manifest has either \"urls\" or \"unrestricted\")")
        }
        if (protocols != nil) && outbound.isEmpty && !outboundAny {
            throw .request("--protocol without --outbound or --outbound-any: there is no network section to apply it to")
        }
        var metadata: PayloadManifest.Metadata? = nil
        if name != nil || description != nil || version != nil || !authors.isEmpty || homepage != nil {
            guard let name, let version else {
                throw .request(
                    "metadata needs both --name and --version (the manifest schema requires them; yapapi refuses metadata without them)")
            }
            metadata = .init(
                name: name, description: description, version: version,
                authors: authors.isEmpty ? nil : authors, homepage: homepage)
        }
        var comp: PayloadManifest.CompManifest? = nil
        if outboundAny || !outbound.isEmpty || commands != nil {
            comp = .init()
            comp?.script = .init(
                commands: commands ?? Self.defaultCommands,
                match: match ?? (commands == nil ? .regex : .strict))
            if outboundAny || !outbound.isEmpty {
                let out = PayloadManifest.Outbound(
                    protocols: protocols ?? PayloadManifest.Outbound.defaultProtocols,
                    access: outboundAny ? .unrestricted : .urls(outbound))
                comp?.net = .init(inet: .init(out: out))
            }
        } else if match != nil {
            throw .request("--match without --command: there is no script to apply it to")
        }
        let m = PayloadManifest(
            createdAt: createdAt, expiresAt: expiresAt ?? createdAt.addingTimeInterval(Self.defaultLifetime),
            metadata: metadata,
            payload: [.init(platform: platform, urls: urls, hash: PayloadManifest.payloadHash(sha3_224: hash))],
            compManifest: comp)
        let problems = m.problems(now: createdAt)
        if !problems.isEmpty { throw .invalid(problems) }
        return m
    }

    /// `--expires`: a duration after `createdAt` (`90d`, `12h`, `1w2d`, `30m`, `1y` = 365 days) or an
    /// RFC 3339 time.
    public static func expiry(_ text: String, after createdAt: Date) throws(ManifestError) -> Date {
        if let absolute = ManifestTime.parse(text) { return absolute }
        let units: [Character: TimeInterval] = ["s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400, "y": 365 * 86_400]
        var total: TimeInterval = 0
        var number = ""
        for ch in text {
            if ch.isASCII && ch.isNumber { number.append(ch); continue }
            guard let unit = units[ch], let n = Double(number) else {
                throw .request("--expires \(text): not a duration (90d, 12h, 1w2d, 30m, 1y) or an RFC 3339 time (2027-03-01T00:00:00Z)")
            }
            total += n * unit
            number = ""
        }
        guard number.isEmpty, total > 0 else {
            throw .request("--expires \(text): not a duration (90d, 12h, 1w2d, 30m, 1y) or an RFC 3339 time (2027-03-01T00:00:00Z)")
        }
        return createdAt.addingTimeInterval(total)
    }
}
