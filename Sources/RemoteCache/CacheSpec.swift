// `--cache-to` / `--cache-from` values in docker buildx's syntax:
//   type=registry,ref=HOST/REPO:TAG[,mode=min|max][,compression=gzip|zstd]
//   type=local,dest=DIR[,tag=TAG][,mode=..][,compression=..]      (export)
//   type=local,src=DIR[,tag=TAG]                                   (import)
// A bare reference (`--cache-from HOST/REPO:TAG`) means type=registry, as in buildx.
import Registry

/// One `--cache-to` or `--cache-from` value: where the cache is and how to export to it.
public struct CacheSpec: Sendable, Equatable {
    /// Where a shared cache lives: a registry tag, or a tag in an OCI image layout directory.
    public enum Location: Sendable, Equatable {
        case registry(ImageReference)
        /// An OCI image layout directory and the tag (`org.opencontainers.image.ref.name`) in it.
        case local(directory: String, tag: String)
    }
    /// `mode=`: export the steps of the final image's stages (`min`) or of every stage (`max`).
    public enum Mode: String, Sendable { case min, max }

    public var location: Location
    /// Export only: the steps of the stages that make the final image (min), or of every stage.
    public var mode = Mode.min
    public var compression = LayerCompression.gzip
    /// `ignore-error=true`: a failed export is a warning (by default it fails the build, as in BuildKit).
    public var ignoreError = false

    /// Parses one flag value; `export` tells `--cache-to` (dest=) from `--cache-from` (src=).
    public init(_ text: String, export: Bool) throws(CacheError) {
        let flag = export ? "--cache-to" : "--cache-from"
        var fields: [String: String] = [:]
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        if parts.count == 1, !text.contains("=") {
            fields = ["type": "registry", "ref": text]
        } else {
            for part in parts {
                guard let eq = part.firstIndex(of: "="), eq != part.startIndex else {
                    throw CacheError("\(flag) \(text): \"\(part)\" is not KEY=VALUE")
                }
                let key = part[..<eq].lowercased()
                guard fields[key] == nil else { throw CacheError("\(flag) \(text): \(key) is given twice") }
                fields[key] = String(part[part.index(after: eq)...])
            }
        }
        let known: Set<String>
        switch fields["type"] ?? "registry" {
        case "registry":
            guard let ref = fields["ref"], !ref.isEmpty else { throw CacheError("\(flag) \(text): type=registry needs ref=HOST/REPO:TAG") }
            let reference: ImageReference
            do { reference = try ImageReference(ref) } catch { throw CacheError("\(flag) \(text)", cause: error) }
            guard !export || reference.digest == nil else {
                throw CacheError("\(flag) \(text): the cache is written under a tag, not a digest")
            }
            location = .registry(reference)
            known = ["type", "ref", "mode", "compression", "ignore-error", "oci-mediatypes", "image-manifest"]
        case "local":
            let key = export ? "dest" : "src"
            guard let dir = fields[key], !dir.isEmpty else { throw CacheError("\(flag) \(text): type=local needs \(key)=DIRECTORY") }
            let tag = fields["tag"] ?? "latest"
            guard !tag.isEmpty, !tag.contains("/") else { throw CacheError("\(flag) \(text): tag=\(tag) is not a tag") }
            location = .local(directory: dir, tag: tag)
            known = ["type", key, "tag", "mode", "compression", "ignore-error", "oci-mediatypes", "image-manifest"]
        case let other:
            throw CacheError("\(flag) \(text): type=\(other) is not supported (registry, local)")
        }
        if let unknown = fields.keys.sorted().first(where: { !known.contains($0) }) {
            throw CacheError("\(flag) \(text): unknown key \(unknown)")
        }
        if let m = fields["mode"] {
            guard export, let mode = Mode(rawValue: m) else { throw CacheError("\(flag) \(text): mode=\(m) (min or max, for --cache-to)") }
            self.mode = mode
        }
        if let e = fields["ignore-error"] {
            guard let value = Bool(e.lowercased()) else { throw CacheError("\(flag) \(text): ignore-error=\(e) (true or false)") }
            ignoreError = value
        }
        if let c = fields["compression"] {
            guard export, let compression = LayerCompression(rawValue: c) else {
                throw CacheError("\(flag) \(text): compression=\(c) (gzip or zstd, for --cache-to)")
            }
            self.compression = compression
        }
    }

    /// How a hit names this cache: `registry HOST/REPO:TAG`, `local DIR:TAG`.
    public var label: String {
        switch location {
        case .registry(let r): return "registry \(r.registry)/\(r.repository):\(r.manifestReference)"
        case .local(let dir, let tag): return "local \(dir):\(tag)"
        }
    }
}
