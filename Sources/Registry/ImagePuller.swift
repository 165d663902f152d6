// Pulling an image: from a registry (manifest or index → the platform's manifest → config and
// layers into the blob cache, in parallel) or from an OCI image layout directory on disk.
// The result names every blob by path and digest; nothing unverified is returned.
import BuildCache
import Foundation
import Synchronization
import ImageSpec
import SquashFS

/// Where an image comes from: a registry, an OCI layout directory or a `docker save` tarball.
public enum ImageSource: Sendable, CustomStringConvertible {
    case registry(ImageReference)
    /// An OCI image layout directory and an optional tag (`org.opencontainers.image.ref.name`).
    case ociLayout(path: String, tag: String?)
    /// A `docker save` tarball and an optional tag (one of its RepoTags).
    case dockerArchive(path: String, tag: String?)

    /// `oci-layout://DIR[:TAG]` or `oci:DIR[:TAG]`, `docker://REF`, or a plain reference.
    public init(_ text: String) throws(RegistryError) {
        for prefix in ["oci-layout://", "oci:"] where text.hasPrefix(prefix) {
            let rest = String(text.dropFirst(prefix.count))
            if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
                self = .ociLayout(path: String(rest[..<colon]), tag: String(rest[rest.index(after: colon)...]))
            } else {
                self = .ociLayout(path: rest, tag: nil)
            }
            return
        }
        if text.hasPrefix("docker-archive:") {
            var rest = String(text.dropFirst("docker-archive:".count))
            if rest.hasPrefix("//") { rest.removeFirst(2) }
            // FILE[:TAG]: the tag is after the first ':' that follows the file name's ".tar".
            if let r = rest.range(of: ".tar:") {
                self = .dockerArchive(path: String(rest[..<r.lowerBound]) + ".tar", tag: String(rest[r.upperBound...]))
            } else {
                self = .dockerArchive(path: rest, tag: nil)
            }
            return
        }
        let ref = text.hasPrefix("docker://") ? String(text.dropFirst(9)) : text
        do { self = .registry(try ImageReference(ref)) } catch { throw RegistryError(nil, cause: error) }
    }

    public var description: String {
        switch self {
        case .registry(let r): return r.description
        case .ociLayout(let p, let t): return "oci-layout://\(p)" + (t.map { ":" + $0 } ?? "")
        case .dockerArchive(let p, let t): return "docker-archive://\(p)" + (t.map { ":" + $0 } ?? "")
        }
    }
}

/// A pulled layer blob on disk, with its digest and media type.
public struct PulledLayer: Sendable {
    public var path: String
    public var digest: String
    public var mediaType: String
}

/// A pulled image: its manifest and config digests, configuration and layers.
public struct PulledImage: Sendable {
    public var source: String
    public var manifestDigest: String
    /// The config blob's digest: Docker's image ID.
    public var configDigest: String
    /// The config blob as read (its digest is `configDigest`) and decoded.
    public var config: Verbatim<ImageConfiguration>
    public var layers: [PulledLayer]
    public var warnings: [String]
}

/// Pulls an image for one platform from any ImageSource (registry blobs through the blob
/// cache), verifying every blob.
public final class ImagePuller {
    public let options: RegistryOptions
    public let cache: BlobCache
    public let platform: Platform
    /// Parallel blob downloads.
    public var parallelism = 3

    public init(options: RegistryOptions, cache: BlobCache, platform: Platform) {
        self.options = options
        self.cache = cache
        self.platform = platform
    }

    public func pull(_ source: ImageSource) throws -> PulledImage {
        switch source {
        case .registry(let ref): return try pullFromRegistry(ref)
        case .ociLayout(let path, let tag): return try pullFromLayout(path, tag: tag)
        case .dockerArchive(let path, let tag): return try pullFromDockerArchive(path, tag: tag)
        }
    }

    /// Only the image configuration (no layers are fetched): what `gvmc lint --pull` needs.
    public func pullConfig(_ source: ImageSource) throws -> Verbatim<ImageConfiguration> {
        guard case .registry(let ref) = source else { return try pull(source).config }
        let client = try RegistryClient(reference: ref, options: options)
        var (bytes, type, _) = try client.manifest(ref.manifestReference)
        var doc = try manifest(bytes, type: type, source: ref.description)
        if case .index(let index) = doc {
            (bytes, type, _) = try client.manifest(try select(from: index, source: ref.description).digest)
            doc = try manifest(bytes, type: type, source: ref.description)
        }
        guard case .image(let image) = doc else { throw RegistryError("\(ref): not an image manifest (\(type))") }
        let config = image.config
        try validateDigest(config.digest, what: "\(ref): config")
        return try imageConfig(config, of: ref.description) {
            let path = try cache.store(config.digest) { fd in try client.blob(config, to: fd) }
            return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        }
    }

    // MARK: - Manifests

    /// Picks the manifest for `platform` from an index; errors list what the index has.
    func select(from index: ImageIndex, source: String) throws(RegistryError) -> Descriptor {
        let entries = index.manifests.filter { $0.platform != nil && MediaType.accepted.contains($0.mediaType ?? MediaType.ociManifest) }
        if let exact = entries.first(where: { $0.platform!.matches(platform) }) { return exact }
        let available = entries.map { $0.platform!.description }.filter { $0 != "unknown/unknown" }
        throw RegistryError(.platformNotFound(reference: source, platform: platform.description, available: available))
    }

    /// Layers of a manifest: supported media types only; foreign layers skipped with a warning.
    func usableLayers(_ manifest: ImageManifest, source: String, warnings: inout [String]) throws(RegistryError) -> [Descriptor] {
        var out: [Descriptor] = []
        for layer in manifest.layers {
            let type = layer.mediaType ?? "application/vnd.oci.image.layer.v1.tar+gzip"
            let kind = MediaType.layerKind(type)
            guard kind.supported else { throw RegistryError("\(source): layer \(layer.digest) has unsupported media type \(type)") }
            if kind.foreign && !(layer.urls ?? []).isEmpty {
                warnings.append("\(source): skipping foreign (non-distributable) layer \(layer.digest)")
                continue
            }
            try validateDigest(layer.digest, what: "\(source): layer")
            guard layer.size >= 0 else { throw RegistryError("\(source): layer \(layer.digest) has a negative size") }
            out.append(layer)
        }
        return out
    }

    func checkPlatform(_ config: ImageConfiguration, source: String, warnings: inout [String]) {
        guard let p = config.platform else { return }
        if !p.matches(Platform(architecture: platform.architecture, os: platform.os)) {
            warnings.append("\(source): the image is \(p), not the requested \(platform)")
        }
        if p.os != "linux" || p.architecture != "amd64" {
            warnings.append("\(source): the image is \(p); Golem providers run linux/amd64 VMs and cannot run it")
        }
    }

    // MARK: - Registry

    func pullFromRegistry(_ ref: ImageReference) throws -> PulledImage {
        let client = try RegistryClient(reference: ref, options: options)
        let source = ref.description
        var (bytes, type, digest) = try client.manifest(ref.manifestReference)
        if type == MediaType.dockerSchema1 || type == MediaType.dockerSchema1Signed {
            throw RegistryError("\(source): Docker schema 1 manifests are not supported (deprecated since 2019); re-push the image")
        }
        var doc = try manifest(bytes, type: type, source: source)
        if case .index(let index) = doc {
            let chosen = try select(from: index, source: source)
            (bytes, type, digest) = try client.manifest(chosen.digest)
            doc = try manifest(bytes, type: type, source: source)
        }
        guard case .image(let image) = doc else {
            throw RegistryError("\(source): manifest \(digest) (\(type)) is not an image manifest")
        }
        let configDescriptor = image.config
        try validateDigest(configDescriptor.digest, what: "\(source): config")
        var warnings: [String] = []
        let layers = try usableLayers(image, source: source, warnings: &warnings)
        let config = try imageConfig(configDescriptor, of: source) {
            let configPath = try cache.store(configDescriptor.digest) { fd in try client.blob(configDescriptor, to: fd) }
            return Array(try Data(contentsOf: URL(fileURLWithPath: configPath)))
        }
        checkPlatform(config.value, source: source, warnings: &warnings)
        let paths = try download(layers, using: client)
        return PulledImage(
            source: source, manifestDigest: digest, configDigest: configDescriptor.digest, config: config,
            layers: zip(layers, paths).map { PulledLayer(path: $1, digest: $0.digest, mediaType: $0.mediaType ?? "") },
            warnings: warnings)
    }

    /// Downloads missing layers with `parallelism` workers, each with its own connection but
    /// the scheme and credentials `main` already negotiated.
    func download(_ layers: [Descriptor], using main: RegistryClient) throws -> [String] {
        let ref = main.reference
        let (scheme, authorization) = (main.scheme, main.authorization)
        struct State {
            var next = 0
            var paths: [String?]
            var error: (any Error)?
        }
        let state = Mutex(State(paths: Array(repeating: nil, count: layers.count)))
        let missing = layers.indices.filter { !cache.contains(layers[$0].digest) }
        state.withLock { s in
            for i in layers.indices where !missing.contains(i) { s.paths[i] = cache.path(for: layers[i].digest) }
        }
        let workers = min(parallelism, missing.count)
        if workers > 0 {
            let options = self.options
            let cache = self.cache
            DispatchQueue.concurrentPerform(iterations: workers) { _ in
                var client: RegistryClient?
                while true {
                    let taken: Int? = state.withLock { s in
                        guard s.error == nil, s.next < missing.count else { return nil }
                        s.next += 1
                        return missing[s.next - 1]
                    }
                    guard let i = taken else { return }
                    do {
                        if client == nil {
                            client = try RegistryClient(reference: ref, options: options)
                            client!.scheme = scheme
                            client!.authorization = authorization
                        }
                        let layer = layers[i]
                        options.log("pulling \(layer.digest.prefix(19)) (\(layer.size) bytes)")
                        let started = Date()
                        let path = try cache.store(layer.digest) { fd in try client!.blob(layer, to: fd) }
                        options.layerPulled(layer.digest, layer.size, Date().timeIntervalSince(started))
                        state.withLock { $0.paths[i] = path }
                    } catch {
                        state.withLock { s in if s.error == nil { s.error = error } }
                    }
                }
            }
        }
        return try state.withLock { s in
            if let e = s.error { throw e }
            return s.paths.map { $0! }
        }
    }

    // MARK: - OCI image layout

    func pullFromLayout(_ dir: String, tag: String?) throws -> PulledImage {
        let source = "oci-layout://\(dir)" + (tag.map { ":" + $0 } ?? "")
        func blobPath(_ digest: String) throws(RegistryError) -> String {
            try validateDigest(digest, what: source)
            return CacheLayout(dir).blob(digest)
        }
        func readVerified(_ d: Descriptor) throws -> [UInt8] {
            let path = try blobPath(d.digest)
            guard let data = FileManager.default.contents(atPath: path) else {
                throw RegistryError("\(source): blob \(d.digest) is missing (\(path))")
            }
            let bytes = Array(data)
            let actual = sha256Digest(bytes)
            guard actual == d.digest else {
                throw RegistryError(.digestMismatch(subject: source, check: .layoutBlob, expected: d.digest, actual: actual))
            }
            return bytes
        }
        guard let layoutData = FileManager.default.contents(atPath: dir + "/oci-layout") else {
            throw RegistryError("\(source): not an OCI image layout (no valid oci-layout file)")
        }
        do { _ = try JSONDocument.decode(ImageLayoutFile.self, from: Array(layoutData), document: "oci-layout") } catch {
            throw RegistryError("\(source): not an OCI image layout (no valid oci-layout file: \(error.reason))")
        }
        guard let indexData = FileManager.default.contents(atPath: dir + "/index.json") else {
            throw RegistryError("\(source): index.json is missing")
        }
        let entries = try layoutIndex(Array(indexData), source: source + "/index.json").manifests
        var chosen: Descriptor
        if let tag {
            guard let m = entries.first(where: { $0.annotations?[Descriptor.refNameAnnotation] == tag }) else {
                let tags = entries.compactMap { $0.annotations?[Descriptor.refNameAnnotation] }
                throw RegistryError("\(source): no image tagged \"\(tag)\" (tags: \(tags.isEmpty ? "none" : tags.joined(separator: ", ")))")
            }
            chosen = m
        } else {
            guard entries.count == 1 else { throw RegistryError("\(source): the layout holds \(entries.count) images; name one with :TAG") }
            chosen = entries[0]
        }
        var doc = try manifest(try readVerified(chosen), type: nil, source: source)
        if case .index(let index) = doc {
            chosen = try select(from: index, source: source)
            doc = try manifest(try readVerified(chosen), type: nil, source: source)
        }
        guard case .image(let image) = doc else { throw RegistryError("\(source): \(chosen.digest) is not an image manifest") }
        let configDescriptor = image.config
        let config = try imageConfig(configDescriptor, of: source) { try readVerified(configDescriptor) }
        var warnings: [String] = []
        checkPlatform(config.value, source: source, warnings: &warnings)
        let layers = try usableLayers(image, source: source, warnings: &warnings)
        var pulled: [PulledLayer] = []
        for l in layers {
            let path = try blobPath(l.digest)
            guard access(path, R_OK) == 0 else { throw RegistryError("\(source): layer \(l.digest) is missing (\(path))") }
            pulled.append(PulledLayer(path: path, digest: l.digest, mediaType: l.mediaType ?? ""))
        }
        return PulledImage(
            source: source, manifestDigest: chosen.digest, configDigest: configDescriptor.digest,
            config: config, layers: pulled, warnings: warnings)
    }
}
