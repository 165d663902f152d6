// OCI image / Docker schema 2 manifests, indexes and image configs: the fields gvmc reads.
import Foundation
import SquashFS

public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    static let accepted = [ociManifest, ociIndex, dockerManifest, dockerList]

    /// Layer media types gvmc applies, and whether they are "foreign" (non-distributable).
    static func layerKind(_ type: String) -> (supported: Bool, foreign: Bool) {
        switch type {
        case "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
             "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar.gzip",
             "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.docker.image.rootfs.diff.tar.zstd":
            return (true, false)
        case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
             "application/vnd.oci.image.layer.nondistributable.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
             "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
            return (true, true)
        default:
            return (false, false)
        }
    }
}

public struct Platform: Codable, Sendable, Equatable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    enum CodingKeys: String, CodingKey { case architecture, os, variant }

    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture; self.os = os; self.variant = variant
    }

    /// `os/arch[/variant]`, as `--platform` takes it.
    public init(_ text: String) throws(RegistryError) {
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
            throw RegistryError("invalid platform \"\(text)\": expected os/arch[/variant], e.g. linux/amd64")
        }
        os = parts[0]
        architecture = parts[1] == "x86_64" ? "amd64" : (parts[1] == "aarch64" ? "arm64" : parts[1])
        variant = parts.count == 3 ? parts[2] : nil
    }

    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    func matches(_ wanted: Platform) -> Bool {
        guard os == wanted.os, architecture == wanted.architecture else { return false }
        guard let v = wanted.variant else { return true }
        return (variant ?? (architecture == "arm64" ? "v8" : "")) == v
    }
}

public struct Descriptor: Codable, Sendable {
    public var mediaType: String?
    public var digest: String
    public var size: Int64
    public var platform: Platform?
    public var urls: [String]?
    public var annotations: [String: String]?

    public init(mediaType: String?, digest: String, size: Int64, platform: Platform? = nil, urls: [String]? = nil,
                annotations: [String: String]? = nil) {
        self.mediaType = mediaType; self.digest = digest; self.size = size
        self.platform = platform; self.urls = urls; self.annotations = annotations
    }
}

struct ManifestDocument: Codable {
    var schemaVersion: Int?
    var mediaType: String?
    var config: Descriptor?
    var layers: [Descriptor]?
    var manifests: [Descriptor]?
}

/// The parts of an image config blob gvmc uses; `raw` keeps the whole JSON.
public struct ImageConfigBlob: Sendable {
    public var raw: [UInt8]
    public var platform: Platform?
    /// `rootfs.diff_ids`: digests of the uncompressed layers.
    public var diffIDs: [String]

    init(raw: [UInt8]) throws(RegistryError) {
        self.raw = raw
        guard let object = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any] else {
            throw RegistryError("image config is not a JSON object")
        }
        if let arch = object["architecture"] as? String, let os = object["os"] as? String {
            platform = Platform(architecture: arch, os: os, variant: object["variant"] as? String)
        }
        diffIDs = ((object["rootfs"] as? [String: Any])?["diff_ids"] as? [String]) ?? []
    }

    /// The `config` object (Env, Cmd, Entrypoint, ...) re-encoded on its own, or nil.
    public var containerConfigJSON: [UInt8]? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(raw)) as? [String: Any],
              let config = object["config"] as? [String: Any],
              let data = try? JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]) else { return nil }
        return Array(data)
    }
}

func sha256Digest(_ bytes: [UInt8]) -> String { "sha256:" + SHA256.hash(bytes).hexString }

/// Checks a digest's form (as a reference's digest is checked) before it names a file; only
/// sha256 content is stored.
func validateDigest(_ d: String, what: String) throws(RegistryError) {
    do { try ImageReference.validateDigest(d, d) } catch { throw RegistryError("\(what): \(error.reason)") }
    guard d.hasPrefix("sha256:") else { throw RegistryError("\(what): digest \(d): only sha256 is supported") }
}
