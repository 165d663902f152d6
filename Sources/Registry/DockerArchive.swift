// `docker save` tarballs as an image source (`docker-archive://FILE.tar[:TAG]`): every regular
// file is copied once into the blob cache under its SHA-256, manifest.json picks the config and
// layers (following the archive's symlinked legacy layer directories), and each uncompressed
// layer must hash to the config's diff_id.
import Foundation
import ImageSpec
import Layers
import SquashFS

/// One image of a `docker save` archive's manifest.json.
struct DockerArchiveEntry: Decodable {
    /// The config file's name in the archive (`<id>.json`, `blobs/sha256/<id>`).
    var config: String?
    var repoTags: [String]?
    /// The layer files' names, base layer first.
    var layers: [String]?

    enum CodingKeys: String, CodingKey { case config = "Config", repoTags = "RepoTags", layers = "Layers" }
}

extension BlobCache {
    /// Copies a stream into the cache under the digest of its bytes; returns (digest, path).
    func storeComputingDigest(_ read: (UnsafeMutableRawBufferPointer) throws -> Int) throws -> (String, String) {
        try prepare()
        let temp = blobDirectory + "/.import-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError.system("cache: cannot create ", temp) }
        TemporaryFiles.shared.register(temp)
        defer { TemporaryFiles.shared.unregister(temp) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        do {
            while true {
                let n = try read(buffer)
                if n == 0 { break }
                hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
                var off = 0
                while off < n {
                    let w = write(fd, buffer.baseAddress! + off, n - off)
                    if w < 0 {
                        if errno == EINTR { continue };
                        throw RegistryError.system("cache: writing ", temp, " failed")
                    }
                    off += w
                }
            }
            close(fd)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        let digest = "sha256:" + hasher.finalize().hexString
        let final = path(for: digest)
        if access(final, F_OK) == 0 {
            unlink(temp)
        } else if rename(temp, final) != 0 {
            unlink(temp)
            throw RegistryError.system("cache: rename to ", final, " failed")
        }
        return (digest, final)
    }
}

extension ImagePuller {
    func pullFromDockerArchive(_ file: String, tag: String?) throws -> PulledImage {
        let source = "docker-archive://\(file)" + (tag.map { ":" + $0 } ?? "")
        let reader: TarReader
        do { reader = try TarReader(path: file, name: source) } catch { throw RegistryError(nil, cause: error) }
        var stored: [String: (digest: String, path: String)] = [:]
        var links: [String: String] = [:]
        var small: [String: [UInt8]] = [:]
        func clean(_ raw: String) -> String {
            var parts: [Substring] = []
            for p in raw.split(separator: "/") where p != "." {
                if p == ".." { if !parts.isEmpty { parts.removeLast() } } else { parts.append(p) }
            }
            return parts.joined(separator: "/")
        }
        while let entry = try reader.next() {
            let name = clean(entry.pathString)
            switch entry.kind {
            case .file:
                var remaining = entry.size
                let (digest, path) = try cache.storeComputingDigest { buffer in
                    guard remaining > 0 else { return 0 }
                    let n = try reader.read(
                        into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))]))
                    guard n > 0 else { throw RegistryError("\(source): \(name) is truncated") }
                    remaining -= Int64(n)
                    return n
                }
                stored[name] = (digest, path)
                if name.hasSuffix(".json") && entry.size <= 4 << 20 {
                    small[name] = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
                }
            case .symlink:
                let target = String(decoding: entry.linkTarget, as: UTF8.self)
                let dir = name.split(separator: "/").dropLast().joined(separator: "/")
                links[name] = clean(target.hasPrefix("/") ? target : dir + "/" + target)
            case .hardlink:
                links[name] = clean(String(decoding: entry.linkTarget, as: UTF8.self))
            default:
                continue
            }
        }
        func lookup(_ name: String) throws(RegistryError) -> (digest: String, path: String) {
            var n = clean(name)
            for _ in 0..<16 {
                if let s = stored[n] { return s }
                guard let next = links[n] else { break }
                n = next
            }
            throw RegistryError("\(source): \(name) is missing from the archive")
        }
        guard let manifestBytes = small["manifest.json"] else {
            throw RegistryError("\(source): no manifest.json; not a `docker save` archive")
        }
        let manifest: [DockerArchiveEntry]
        do {
            manifest = try JSONDocument.decode([DockerArchiveEntry].self, from: manifestBytes, document: "\(source): manifest.json")
        } catch {
            if case .notJSON = error.problem { throw RegistryError("\(source): no manifest.json; not a `docker save` archive") }
            throw RegistryError(nil, cause: error)
        }
        guard !manifest.isEmpty else { throw RegistryError("\(source): no manifest.json; not a `docker save` archive") }
        let chosen: DockerArchiveEntry
        if let tag {
            let matches = manifest.filter { entry in
                (entry.repoTags ?? []).contains { t in
                    t == tag || t.hasSuffix("/" + tag) || (try? ImageReference(t).familiarName) == tag
                }
            }
            guard let first = matches.first else {
                let tags = manifest.flatMap { $0.repoTags ?? [] }
                throw RegistryError("\(source): no image tagged \(tag) (tags: \(tags.isEmpty ? "none" : tags.joined(separator: ", ")))")
            }
            chosen = first
        } else {
            guard manifest.count == 1 else {
                throw RegistryError("\(source): the archive holds \(manifest.count) images; name one with :TAG")
            }
            chosen = manifest[0]
        }
        guard let configName = chosen.config, let layerNames = chosen.layers else {
            throw RegistryError("\(source): manifest.json entry without Config or Layers")
        }
        let config = try lookup(configName)
        let configBlob = try imageConfig(Descriptor(mediaType: MediaType.dockerConfig, digest: config.digest, size: 0), of: source) {
            Array(try Data(contentsOf: URL(fileURLWithPath: config.path)))
        }
        let diffIDs = configBlob.value.diffIDs
        var warnings: [String] = []
        checkPlatform(configBlob.value, source: source, warnings: &warnings)
        var layers: [PulledLayer] = []
        for (i, name) in layerNames.enumerated() {
            let layer = try lookup(name)
            // `docker save` layers are uncompressed: their digest is the config's diff_id.
            if i < diffIDs.count, !(try isCompressed(layer.path)), diffIDs[i] != layer.digest {
                throw RegistryError(
                    .digestMismatch(subject: source, check: .archiveLayer(name: name), expected: diffIDs[i], actual: layer.digest))
            }
            layers.append(PulledLayer(path: layer.path, digest: layer.digest, mediaType: "application/vnd.docker.image.rootfs.diff.tar"))
        }
        return PulledImage(
            source: source, manifestDigest: config.digest, configDigest: config.digest, config: configBlob,
            layers: layers, warnings: warnings)
    }

    /// gzip, zstd, xz or bzip2 magic at the start of the file.
    func isCompressed(_ path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw RegistryError("cannot read \(path)") }
        defer { try? handle.close() }
        let head = Array(handle.readData(ofLength: 6))
        return head.starts(with: [0x1f, 0x8b]) || head.starts(with: [0x28, 0xb5, 0x2f, 0xfd])
            || head.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a]) || head.starts(with: [0x42, 0x5a, 0x68])
    }
}
