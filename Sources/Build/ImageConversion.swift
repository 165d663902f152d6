// An image (registry, OCI layout, docker archive) to a .gvmi, as a library: pull, flatten the
// layers, map the configuration (User through the image's passwd and group), stream the tree into
// the image writer; nothing is unpacked to disk. `gvmc convert` maps its options onto a
// ConversionRequest and prints what this reports.
import BuildCache
import Foundation
import GVMI
import ImageSpec
import Layers
import Lint
import Progress
import Registry
import Executor
import SquashFS

/// What to convert and how.
public struct ConversionRequest {
    /// What becomes of the image's USER in the trailer.
    public enum UserPolicy: String, Sendable {
        /// Numeric uid:gid through the image's /etc/passwd and /etc/group (Golem's runtime needs
        /// numbers); a name they lack fails the conversion.
        case resolve
        /// No User, as gvmkit-build writes.
        case drop
    }

    public var source: ImageSource
    /// The platform taken from a multi-platform index (`os/arch[/variant]`).
    public var platform: String
    /// The cache directory: the image hashes are recorded in it for a later push.
    public var cacheDirectory: String
    public var squashFS: SquashFSOptions
    public var userPolicy = UserPolicy.resolve
    /// The output file; when nil, `outputNaming`'s name, else `defaultName`.
    public var outputPath: String?
    /// The output's name from the image id (the config digest), as `-t USER/REPO:TAG` names it;
    /// called once the image is pulled. nil, or nil from it: `defaultName`.
    public var outputNaming: ((String) throws -> String?)?
    /// With it, the image writer's final read of the file also gives the Golem registry
    /// descriptor's chunk hashes for chunks of this size (file size → chunk size).
    public var chunkSize: ((UInt64) -> UInt64)?

    public init(source: ImageSource, platform: String, cacheDirectory: String, squashFS: SquashFSOptions) {
        self.source = source
        self.platform = platform
        self.cacheDirectory = cacheDirectory
        self.squashFS = squashFS
    }
}

/// A conversion that failed for a reason of the image, not of the network or the disk.
public enum ConversionError: Error, CustomStringConvertible {
    /// USER names a user or group the image's passwd and group files lack (UserPolicy.resolve).
    case unresolvedUser(source: String, user: String, cause: ExecutorError)

    public var description: String {
        switch self {
        case .unresolvedUser(let source, let user, let cause):
            return "\(source): USER \(user): \(cause.message); use --user-policy drop to write no User"
        }
    }
}

/// A written image and what it was made from.
public struct ConversionResult {
    public var image: GVMIResult
    /// The image as pulled: its source, manifest digest and image id.
    public var pulled: PulledImage
    /// The configuration in the image's trailer.
    public var config: ContainerConfig

    /// What `--extra-json-info-path` adds about the source: its manifest digest and image id.
    public var sourceInfo: [String: String] { ["source_digest": pulled.manifestDigest, "image_id": pulled.configDigest] }
}

/// Converts one image, reporting on the progress display it is given: the pull (each layer's
/// transfer) and the image write as two vertices, warnings as messages.
public final class ImageConversion {
    public let request: ConversionRequest
    let progress: BuildProgress
    let puller: (String) throws -> ImagePuller

    /// `puller` makes the registry client for a platform (called when the pull starts, on its vertex).
    public init(_ request: ConversionRequest, progress: BuildProgress, puller: @escaping (String) throws -> ImagePuller) {
        self.request = request
        self.progress = progress
        self.puller = puller
    }

    /// Pulls, flattens and writes the image (to a temporary file renamed at the end), recording
    /// its hashes in the cache.
    public func run() throws -> ConversionResult {
        progress.expectedTotal = 2
        progress.start("[internal] load metadata and layers for \(request.source)")
        let pulled = try puller(request.platform).pull(request.source)
        progress.done()
        for w in pulled.warnings { progress.message("warning: \(w)") }
        let flat = try FlattenedImage(layers: pulled.layers.map { LayerFile(path: $0.path, digest: $0.digest) })
        var config = pulled.config.value.trailerConfig
        if let user = config.user, !user.isEmpty {
            switch request.userPolicy {
            case .drop:
                config.user = nil
            case .resolve:
                config.user = try Self.numericUser(user, in: flat, source: pulled.source)
            }
        }
        let path = try request.outputPath ?? request.outputNaming?(pulled.configDigest) ?? Self.defaultName(pulled, source: request.source)
        progress.start("writing image \(path)")
        let result = try GVMIImageWriter.write(
            to: path, options: request.squashFS, config: config, chunkSize: request.chunkSize,
            hashes: ImageHashStore(directory: CacheLayout(request.cacheDirectory).hashes)
        ) { writer in
            // The bar's total: the final tree's file bytes (each hard-linked file once).
            let total = flat.fileBytes
            writer.onData = { [progress] in
                progress.transfer("squashfs", current: Int64(clamping: $0), total: max(total, Int64(clamping: $0)))
            }
            writer.laterFileSizes = BootFiles.fileSizes
            try flat.write(to: writer)
            try BootFiles.add(to: writer)
        }
        progress.status("squashfs \(result.compression.rawValue): \(result.squashfs.inodes) inodes, \(result.size) bytes done")
        progress.status("sha3-224 \(result.sha3_224) done")
        progress.done()
        return ConversionResult(image: result, pulled: pulled, config: config)
    }

    /// Golem's view of a converted image, as messages: the configuration rules and the image
    /// rules `gvmc lint --image` checks (the image is read back for them).
    public func checkForGolem(_ converted: ConversionResult) throws {
        let (result, config, source) = (converted.image, converted.config, converted.pulled.source)
        if config.entrypoint != nil || config.cmd != nil {
            progress.message(
                "warning: \(source): ENTRYPOINT/CMD is not run on Golem unless the requestor starts it with start-entrypoint [GVM001]")
        }
        if (config.volumes ?? []).isEmpty {
            progress.message("warning: \(source): no VOLUME declared: file transfers have no target and all writes go to RAM [GVM003]")
        }
        let entries = try SquashFSReader(path: result.path).entries()
        for f in ImageRules.check(
            entries: entries, volumes: config.volumes ?? [], compression: request.squashFS.compression.algorithm,
            imageSize: result.size, file: result.path) where f.severity != .info
        {
            progress.message("\(f.severity.rawValue): \(source): \(f.message) [\(f.rule)]")
        }
    }

    /// USER as numeric uid:gid through the flattened image's /etc/passwd and /etc/group.
    static func numericUser(_ user: String, in flat: FlattenedImage, source: String) throws -> String {
        let files = try flat.readFiles(["/etc/passwd", "/etc/group"])
        let db = UserDatabase(
            passwd: files["/etc/passwd"].map { String(decoding: $0, as: UTF8.self) },
            group: files["/etc/group"].map { String(decoding: $0, as: UTF8.self) })
        do {
            let ids = try db.resolve(user)
            return "\(ids.uid):\(ids.gid)"
        } catch {
            throw ConversionError.unresolvedUser(source: source, user: user, cause: error)
        }
    }

    /// gvmkit-build's name for an image: `<name>-<tag>-<first 10 hex of the image id>.gvmi`, the
    /// name being the repository's last component or the layout's (archive's) file name.
    public static func defaultName(_ pulled: PulledImage, source: ImageSource) -> String {
        let id = pulled.configDigest.dropFirst("sha256:".count).prefix(10)
        switch source {
        case .registry(let ref):
            let name = ref.repository.split(separator: "/").last.map(String.init) ?? "image"
            return "\(name)-\(ref.tag ?? "latest")-\(id).gvmi"
        case .ociLayout(let dir, let tag), .dockerArchive(let dir, let tag):
            let name = ((dir as NSString).lastPathComponent as NSString).deletingPathExtension
            return
                "\(name.isEmpty ? "image" : name)-\(tag.map { $0.split(separator: ":").last.map(String.init) ?? $0 } ?? "latest")-\(id).gvmi"
        }
    }
}
