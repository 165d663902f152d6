// Importing from and exporting to shared step caches.
//
// Import is lazy: a cache's manifest and config are read the first time a key is looked up, a
// layer blob only when its step is reused. A blob is checked against its digest before it is
// unpacked into the step cache; anything that goes wrong is a warning and the step runs.
//
// Export is cumulative and safe under concurrent writers: layers new to the cache are written
// (the rest confirmed with a HEAD), then the config and the manifest, which is put last, so it
// never names a blob the store lacks. The index written merges what the tag holds at that
// moment; after the put it is read back, and when another writer replaced it meanwhile, the
// merge is done again (a few times), so parallel jobs keep each other's records.
import Foundation
import ImageSpec
import Registry
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Takes step layers from the `--cache-from` caches, read lazily and checked before use.
public final class SharedCacheImport {
    public let stores: [CacheStore]
    /// Warnings (a cache that cannot be read, a blob that fails its check).
    public var warn: (String) -> Void = { _ in }
    /// Overlay runs with `userxattr` (a user namespace): opaque directories as user.overlay.opaque.
    public var userXattrs = false
    private var indexes: [Int: CacheIndex] = [:]
    private var unusable: Set<Int> = []
    /// Layers taken from each store (for the build's summary).
    public private(set) var hits: [String: Int] = [:]
    /// Keys whose record could not be used (a blob missing or damaged): an export replaces them.
    public private(set) var failedKeys: Set<String> = []

    public init(stores: [CacheStore]) { self.stores = stores }

    /// Fills `directory` with the layer of `key` from the first store that has it; returns that
    /// store's label, or nil.
    public func fetchLayer(key: String, into directory: String) -> String? {
        for (i, store) in stores.enumerated() {
            guard let index = index(i), let record = index.record(key) else { continue }
            let blob = directory + ".blob"
            defer { unlink(blob) }
            do throws(CacheError) {
                try store.fetch(Descriptor(mediaType: record.mediaType, digest: record.layer, size: record.size), to: blob)
                try LayerImport.extract(blob, name: "\(store.label): layer \(record.layer)", into: directory, userXattrs: userXattrs)
                hits[store.label, default: 0] += 1
                return store.label
            } catch {
                failedKeys.insert(key)
                // What was unpacked goes; the next cache is asked, then the step runs.
                try? FileManager.default.removeItem(atPath: directory)
                guard mkdir(directory, 0o755) == 0 else { warn("\(error.message); the step runs"); return nil }
                warn(error.message + (i + 1 < stores.count ? "; asking the next cache" : "; the step runs"))
            }
        }
        return nil
    }

    func index(_ i: Int) -> CacheIndex? {
        if let index = indexes[i] { return index }
        guard !unusable.contains(i) else { return nil }
        do {
            let index = try readIndex(stores[i], scratch: nil) ?? CacheIndex()
            indexes[i] = index
            return index
        } catch {
            unusable.insert(i)
            warn("\(error); that cache is not used")
            return nil
        }
    }
}

/// The index under a store's tag; nil when the tag does not exist. `scratch`: where the config
/// is downloaded (default: the temporary directory).
func readIndex(_ store: CacheStore, scratch: String?) throws(CacheError) -> CacheIndex? {
    guard let manifest = try store.manifest() else { return nil }
    guard let config = CacheIndex.configDescriptor(manifest) else {
        throw CacheError(.foreign(label: store.label, configMediaType: CacheIndex.configMediaType))
    }
    guard config.size >= 0 && config.size <= 64 << 20 else {
        throw CacheError("\(store.label): the cache's config is \(config.size) bytes")
    }
    let temp =
        (scratch ?? FileManager.default.temporaryDirectory.path) + "/gvmc-cache-config-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    defer { unlink(temp) }
    try store.fetch(config, to: temp)
    guard let data = FileManager.default.contents(atPath: temp) else { throw CacheError.io("read", temp) }
    return try CacheIndex.decode(Array(data), from: store.label)
}

/// What a `--cache-to` export did: records in the cache, layers written and reused, bytes written.
public struct ExportSummary: Sendable {
    /// Records in the cache after the export, layers written by it, layers it found there.
    public var records = 0
    public var written = 0
    public var reused = 0
    public var bytesWritten: Int64 = 0
}

/// Exports a build's step layers to a shared cache (`--cache-to`).
public enum SharedCacheExport {
    /// A step layer to export: its step key, its stage and its directory.
    public struct Layer: Sendable {
        public var key: String
        public var stage: Int
        /// The layer's directory (an overlay upper directory of the step cache).
        public var path: String
        public init(key: String, stage: Int, path: String) { self.key = key; self.stage = stage; self.path = path }
    }

    /// Exports `layers` (in build order) to `store`. `scratch`: a directory for the archives.
    /// `replace`: keys whose record in the store failed this build (their layers are uploaded
    /// again). `warn`: layers that cannot be exported (skipped), a damaged index (started anew).
    public static func export(
        _ layers: [Layer], to store: CacheStore, compression: LayerCompression, scratch: String,
        userXattrs: Bool = false, replace: Set<String> = [], now: Int64 = Int64(time(nil)),
        status: (String) -> Void = { _ in }, warn: (String) -> Void = { _ in }
    ) throws(CacheError) -> ExportSummary {
        var summary = ExportSummary()
        let existing = try currentIndex(store, scratch: scratch, warn: warn)
        var fresh: [CacheRecord] = []
        var seen: Set<String> = []
        for layer in layers where seen.insert(layer.key).inserted {
            if !replace.contains(layer.key), var record = existing.record(layer.key), try store.has(record.layer, size: record.size) {
                record.exported = now
                record.stage = layer.stage
                fresh.append(record)
                summary.reused += 1
                continue
            }
            let archive = scratch + "/export-\(fresh.count).tar"
            defer { unlink(archive) }
            let written: (digest: String, size: Int64)
            do throws(CacheError) {
                written = try LayerExport.write(layer.path, to: archive, compression: compression, userXattrs: userXattrs)
            } catch {
                warn("step \(layer.key.prefix(12)) is not exported: \(error.message)")
                continue
            }
            try store.put(archive, digest: written.digest, size: written.size)
            status("layer \(layer.key.prefix(12)): \(written.digest.prefix(19)) \(written.size) bytes done")
            fresh.append(
                CacheRecord(
                    key: layer.key, layer: written.digest, size: written.size, mediaType: compression.mediaType,
                    stage: layer.stage, exported: now))
            summary.written += 1
            summary.bytesWritten += written.size
        }
        try store.exclusive { () throws(CacheError) in
            var base = try currentIndex(store, scratch: scratch, warn: { _ in })
            for attempt in 1...4 {
                let index = base.merged(with: fresh)
                let config = index.encoded()
                let configPath = scratch + "/export-config.json"
                defer { unlink(configPath) }
                guard FileManager.default.createFile(atPath: configPath, contents: Data(config)) else {
                    throw CacheError.io("create", configPath)
                }
                let configDigest = "sha256:" + sha256Hex(config)
                try store.put(configPath, digest: configDigest, size: Int64(config.count))
                try store.putManifest(index.manifest(config: (configDigest, Int64(config.count))))
                summary.records = index.records.count
                // Another writer may have put its index between our read and our put: read back
                // and, if our records are gone, merge again.
                guard let now = try readIndex(store, scratch: scratch) else {
                    throw CacheError("\(store.label): the cache is gone right after it was written")
                }
                if fresh.allSatisfy({ r in now.record(r.key)?.layer == r.layer }) { return }
                guard attempt < 4 else {
                    throw CacheError("\(store.label): other builds kept replacing the cache; this build's records were not kept")
                }
                base = now
            }
        }
        return summary
    }

    /// The index under the tag; a damaged gvmc index is a warning and a new one is started,
    /// something that is not a gvmc cache is never replaced.
    static func currentIndex(_ store: CacheStore, scratch: String, warn: (String) -> Void) throws(CacheError) -> CacheIndex {
        do { return try readIndex(store, scratch: scratch) ?? CacheIndex() } catch {
            if error.isForeign { throw error }
            warn("\(error.message); the export starts a new index")
            return CacheIndex()
        }
    }
}

func sha256Hex(_ bytes: [UInt8]) -> String { SHA256.hash(bytes).hexString }
