// The base images of a build: pulled once, their configuration for the planner, unpacked into
// the build's roots or once into the cache's shared read-only trees.
import BuildCache
import BuildPlan
import Foundation
import GVMI
import ImageSpec
import Layers
import Registry
import Executor
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// Base images of a build: pulled once per reference (during planning, which needs their
/// configuration), unpacked on demand by the executor.
public final class BaseImages {
    /// `--platform`: the images of stages without FROM --platform.
    let platform: String
    let makePuller: (String) throws -> ImagePuller
    /// Made on first use: a build from scratch needs no credentials and no cache directory.
    var pullers: [String: Result<ImagePuller, Error>] = [:]
    var pulled: [String: PulledImage] = [:]
    var flattened: [String: FlattenedImage] = [:]
    public internal(set) var failure: (String, String)?

    /// Warnings of the pulls (deprecated media types, platform fallbacks).
    public var warn: (String) -> Void = { _ in }
    /// Bytes of an image's files unpacked so far, of all (nil: not reported), and the unpacking's end.
    public var unpacking: ((_ done: Int64, _ total: Int64) -> Void)?
    public var unpacked: () -> Void = {}

    public init(platform: String, _ makePuller: @escaping (String) throws -> ImagePuller) {
        self.platform = platform
        self.makePuller = makePuller
    }

    func puller(_ platform: String?) throws -> ImagePuller {
        let p = platform ?? self.platform
        if let r = pullers[p] { return try r.get() }
        let r = Result { try makePuller(p) }
        pullers[p] = r
        return try r.get()
    }

    /// A FROM --platform value checked; nil when it is --platform's (os/arch compared, as
    /// linux/amd64 and linux/x86_64 name one platform).
    public func normalized(_ p: String) throws -> String? {
        let wanted = try Platform(p.lowercased())
        let target = try Platform(platform.lowercased())
        return wanted.os == target.os && wanted.architecture == target.architecture
            && (wanted.variant == nil || wanted.variant == target.variant) ? nil : wanted.description
    }

    func pull(_ ref: String, platform: String?) throws -> PulledImage {
        let key = (platform ?? self.platform) + " " + ref
        if let p = pulled[key] { return p }
        let image = try puller(platform).pull(try ImageSource(ref))
        for w in image.warnings { warn(w) }
        pulled[key] = image
        return image
    }

    /// The planner's view of a base image; a failure is kept and reported with the FROM's position.
    public func config(for ref: String, platform: String?) -> ImageConfig? {
        do {
            return ImageConfig(try pull(ref, platform: platform).config.value.trailerConfig)
        } catch {
            if failure == nil { failure = (ref, "\(error)") }
            return nil
        }
    }

    /// Unpacks the image; its layers' headers are read (and digests checked) once per build.
    public func extract(_ ref: String, platform: String?, to root: String) throws {
        let key = (platform ?? self.platform) + " " + ref
        if flattened[key] == nil {
            let image = try pull(ref, platform: platform)
            flattened[key] = try FlattenedImage(layers: image.layers.map { LayerFile(path: $0.path, digest: $0.digest) })
        }
        let flat = flattened[key]!
        if let unpacking {
            let total = flat.fileBytes
            try flat.extract(to: root) { unpacking($0, max(total, $0)) }
            unpacked()
        } else {
            try flat.extract(to: root)
        }
    }

    /// The image's root filesystem unpacked once into the cache (`rootfs/<image id>`), shared by
    /// every build as a read-only overlay layer. The image id (config digest) names the layers'
    /// uncompressed digests, so equal ids mean equal trees. A per-image lock makes concurrent
    /// builds wait for one unpacking; the tree appears by rename only when complete.
    public func tree(_ ref: String, platform: String?) throws -> String {
        let image = try pull(ref, platform: platform)
        let cache = try puller(platform).cache
        let id = String(image.configDigest.dropFirst("sha256:".count))
        let trees = CacheLayout(cache.directory).rootfs(idMapping: UserNamespace.idMappingKey)
        let final = trees + "/" + id
        if let notice = try PrivateDirectory.make(trees) { warn(notice) }
        if access(final, F_OK) == 0 {
            CacheUse.touch(final)
            return final
        }
        return try cache.withLock("rootfs-" + id) {
            if access(final, F_OK) == 0 { return final }
            // Under the lock no other process is unpacking this image: partial trees are
            // leftovers of a killed gvmc.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: trees)) ?? [] where name.hasPrefix(id + ".partial-") {
                TreeRemoval.remove(trees + "/" + name)
            }
            let temp = final + ".partial-\(getpid())"
            guard mkdir(temp, 0o755) == 0 else { throw RegistryError.system("cache: cannot create ", temp) }
            TemporaryDirectories.shared.add(temp)
            defer { TemporaryDirectories.shared.remove(temp) }
            do {
                try extract(ref, platform: platform, to: temp)
                guard rename(temp, final) == 0 else { throw RegistryError.system("cache: rename ", temp) }
                CacheUse.stored(final)
            } catch {
                TreeRemoval.remove(temp)
                throw error
            }
            return final
        }
    }
}
