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

/// One step's entry in a shared cache: its key, the layer blob and when it was last exported.
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

/// A shared cache's config blob: the records mapping step keys to layers, within its bounds.
public struct CacheIndex: Codable, Sendable, Equatable {
    public static let artifactType = "application/vnd.gvmc.cache.v1"
    public static let configMediaType = "application/vnd.gvmc.cache.config.v1+json"
    public static let manifestMediaType = MediaType.ociManifest
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

    /// The config blob: compact, keys sorted (`/` escaped, as gvmc always wrote it).
    public func encoded() -> [UInt8] { JSONDocument.encode(self, formatting: [.sortedKeys]) }

    public static func decode(_ bytes: [UInt8], from where_: String) throws(CacheError) -> CacheIndex {
        let index: CacheIndex
        do { index = try JSONDocument.decode(CacheIndex.self, from: bytes, document: where_) } catch {
            throw CacheError(.malformed(context: "\(where_): the cache's configuration is not gvmc's format", cause: error))
        }
        let types = Set(LayerCompression.allCases.map(\.mediaType))
        for r in index.records {
            guard r.key.utf8.count == 64, r.key.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }),
                CacheError.isDigest(r.layer), r.size >= 0, types.contains(r.mediaType)
            else {
                throw CacheError(
                    "\(where_): the cache's configuration has a malformed record (key \(r.key.prefix(70)), layer \(r.layer.prefix(80)))")
            }
        }
        return index
    }

    /// The manifest for this index whose config blob is `config` (bytes of `encoded()`).
    /// Compact, keys sorted, `/` unescaped: the bytes (and so the digest) gvmc always wrote.
    public func manifest(config: (digest: String, size: Int64)) -> [UInt8] {
        var seen: Set<String> = []
        let layers = records.filter { seen.insert($0.layer).inserted }.map {
            Descriptor(mediaType: $0.mediaType, digest: $0.layer, size: $0.size)
        }
        return JSONDocument.encode(
            ImageManifest(
                mediaType: Self.manifestMediaType, artifactType: Self.artifactType,
                config: Descriptor(mediaType: Self.configMediaType, digest: config.digest, size: config.size),
                layers: layers))
    }

    /// The config descriptor of a cache manifest (nil: not an image manifest, or not a gvmc cache's).
    public static func configDescriptor(_ manifest: [UInt8]) -> Descriptor? {
        guard let image = try? JSONDocument.decode(ImageManifest.self, from: manifest, document: "cache manifest"),
            image.config.mediaType == configMediaType, CacheError.isDigest(image.config.digest)
        else { return nil }
        return image.config
    }
}
