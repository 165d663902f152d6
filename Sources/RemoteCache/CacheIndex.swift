// The format of a shared step cache (README "Shared step caches" documents it for users):
//
// One OCI image manifest under a tag, `artifactType` application/vnd.gvmc.cache.v1, whose
// `layers` are the step layers (OCI layer tars, gzip or zstd) and whose config blob
// (application/vnd.gvmc.cache.config.v1+json) maps step keys to them:
//
//   {"schemaVersion": 1, "records": [{"key": "<64 hex>", "layer": "sha256:...", "size": N,
//     "mediaType": "...tar+gzip", "stage": 0, "exported": 1764800000}, ...]}
//
// A key is the step cache's own (a SHA-256 chaining the base image id and every step's inputs,
// nothing of the machine): the same Dockerfile and context give the same keys everywhere.
// Exports are cumulative: records already under the tag stay, newest first, and the oldest go
// past `maximumRecords` records or `maximumBytes` of layers.
import Foundation
import ImageSpec
import Registry

public struct CacheRecord: Codable, Sendable, Equatable {
    public var key: String
    public var layer: String
    public var size: Int64
    public var mediaType: String
    public var stage: Int?
    /// When an export last wrote or confirmed the record (seconds since the epoch; for the
    /// oldest-first bound only).
    public var exported: Int64
}

public struct CacheIndex: Codable, Sendable, Equatable {
    public static let artifactType = "application/vnd.gvmc.cache.v1"
    public static let configMediaType = "application/vnd.gvmc.cache.config.v1+json"
    public static let manifestMediaType = "application/vnd.oci.image.manifest.v1+json"
    public static let maximumRecords = 2000
    public static let maximumBytes: Int64 = 20 << 30

    public var schemaVersion = 1
    public var records: [CacheRecord] = []

    public init(records: [CacheRecord] = []) { self.records = records }

    public func record(_ key: String) -> CacheRecord? { records.first { $0.key == key } }

    /// `fresh` first, then the records of `self` they do not replace; then bounded (oldest by
    /// `exported` dropped first, the fresh ones never).
    public func merged(with fresh: [CacheRecord]) -> CacheIndex {
        let keys = Set(fresh.map(\.key))
        var all = fresh + records.filter { !keys.contains($0.key) }.sorted { $0.exported > $1.exported }
        var bytes: Int64 = 0
        var seenLayers: Set<String> = []
        var kept: [CacheRecord] = []
        for (i, r) in all.enumerated() {
            let extra = seenLayers.contains(r.layer) ? 0 : r.size
            if i >= fresh.count && (kept.count >= Self.maximumRecords || bytes + extra > Self.maximumBytes) { continue }
            kept.append(r)
            if seenLayers.insert(r.layer).inserted { bytes += r.size }
        }
        all = kept
        return CacheIndex(records: all)
    }

    public func encoded() -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(self)) ?? Data())
    }

    public static func decode(_ bytes: [UInt8], from where_: String) throws(CacheError) -> CacheIndex {
        let index: CacheIndex
        do { index = try JSONDecoder().decode(CacheIndex.self, from: Data(bytes)) } catch {
            throw CacheError("\(where_): the cache's configuration is not gvmc's format: \(error)")
        }
        let types = Set(LayerCompression.allCases.map(\.mediaType))
        for r in index.records {
            guard r.key.utf8.count == 64, r.key.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                  CacheError.isDigest(r.layer), r.size >= 0, types.contains(r.mediaType) else {
                throw CacheError("\(where_): the cache's configuration has a malformed record (key \(r.key.prefix(70)), layer \(r.layer.prefix(80)))")
            }
        }
        return index
    }

    /// The manifest for this index whose config blob is `config` (bytes of `encoded()`).
    public func manifest(config: (digest: String, size: Int64)) -> [UInt8] {
        var layers: [[String: Any]] = []
        var seen: Set<String> = []
        for r in records where seen.insert(r.layer).inserted {
            layers.append(["mediaType": r.mediaType, "digest": r.layer, "size": r.size])
        }
        let object: [String: Any] = [
            "schemaVersion": 2, "mediaType": Self.manifestMediaType, "artifactType": Self.artifactType,
            "config": ["mediaType": Self.configMediaType, "digest": config.digest, "size": config.size],
            "layers": layers,
        ]
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data())
    }

    /// The config descriptor of a cache manifest (nil: not a gvmc cache).
    public static func configDescriptor(_ manifest: [UInt8]) -> Descriptor? {
        struct Shape: Decodable { var config: Descriptor?; var artifactType: String? }
        guard let shape = try? JSONDecoder().decode(Shape.self, from: Data(manifest)), let config = shape.config,
              config.mediaType == configMediaType, CacheError.isDigest(config.digest) else { return nil }
        return config
    }
}
