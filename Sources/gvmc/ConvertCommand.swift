// `gvmc convert`: a registry image (or an OCI layout) → .gvmi, gvmkit-build's job without Docker.
// Layers stream straight into the squashfs writer; nothing is unpacked to disk.
import ArgumentParser
import Build
import CacheLayout
import Foundation
import GolemRegistry
import GVMI
import Layers
import Lint
import Progress
import Registry
import RootFS
import SquashFS

/// Where images come from and how to reach registries (shared by convert and build).
struct RegistryFlags: ParsableArguments {
    @Option(help: "Blob cache directory (default: $XDG_CACHE_HOME/gvmc or ~/.cache/gvmc).")
    var cacheDir: String?

    @Option(name: .customLong("registry-auth"), help: "Credentials HOST=USER:PASSWORD (repeatable; also GVMC_REGISTRY_AUTH, ~/.docker/config.json).")
    var registryAuth: [String] = []

    @Option(name: .customLong("insecure-registry"), help: "Allow plain HTTP and unverified TLS for HOST[:PORT] (repeatable; localhost always is).")
    var insecureRegistries: [String] = []

    /// Absolute: the build's overlay options and the sandbox need absolute paths.
    var cacheDirectory: String { absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment)) }

    /// `progress`: where layer downloads and retries are reported (as the current vertex's
    /// statuses and log lines); without it they go to standard error.
    func puller(platform: String, quiet: Bool = false, progress: BuildProgress? = nil) throws -> ImagePuller {
        ImagePuller(options: try options(quiet: quiet, progress: progress), cache: BlobCache(directory: cacheDirectory), platform: try Platform(platform))
    }

    /// Credentials (flags, GVMC_REGISTRY_AUTH, docker's config) and TLS choices for registries.
    func options(quiet: Bool = false, progress: BuildProgress? = nil) throws -> RegistryOptions {
        var options = RegistryOptions()
        options.credentials = try CredentialStore.standard(flags: registryAuth, environment: ProcessInfo.processInfo.environment)
        options.insecureRegistries = Set(insecureRegistries)
        if let progress {
            // Retries and warnings as the vertex's log; each download has its own status line.
            options.log = { line in if !line.hasPrefix("pulling ") { progress.log(line) } }
            // BuildKit's status line of a finished layer: `sha256:abcd… 12.3MB / 12.3MB 1.2s done`.
            options.blobProgress = { digest, current, total in progress.transfer(String(digest.prefix(19)), current: current, total: total) }
            options.layerPulled = { digest, bytes, seconds in
                let size = BuildProgress.humanSize(bytes)
                progress.status("\(digest.prefix(19)) \(size) / \(size) \(String(format: "%.1f", seconds))s done")
            }
        } else if !quiet {
            options.log = { printError($0) }
        }
        return options
    }
}

/// The pulled image's configuration as a trailer ContainerConfig.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert", abstract: "Convert a registry image (or an OCI layout) into a .gvmi, without Docker.",
        discussion: "IMAGE is a reference (alpine:3.19, localhost:5000/app:1, ...@sha256:...), docker://REF, oci-layout://DIR[:TAG], or docker-archive://FILE.tar[:TAG] (`docker save` output).")

    @Argument(help: "The image to convert.")
    var imageName: String

    @Option(name: .shortAndLong, help: "Output file (default: <name>-<tag>-<first 10 hex of the image id>.gvmi, like gvmkit-build).")
    var output: String?

    @Option(help: "Platform to take from a multi-platform index; Golem runs linux/amd64.")
    var platform = "linux/amd64"

    @Option(help: "User in the trailer: 'resolve' (numeric uid:gid through the image's /etc/passwd and /etc/group) or 'drop' (no User, like gvmkit-build).")
    var userPolicy: UserPolicy = .resolve

    @OptionGroup var registry: RegistryFlags
    @OptionGroup var image: ImageOptions
    @OptionGroup var publish: PublishFlags

    @Option(help: "Progress: auto, plain (BuildKit's plain output: the pull with each layer's size and time, the image write), tty, quiet (only warnings, errors and the result), rawjson.")
    var progress: ProgressMode = .auto

    @Option(help: "Write a JSON file with the image (path, size, hashes, compression), its configuration and its source, as docker buildx --metadata-file.")
    var metadataFile: String?

    enum UserPolicy: String, ExpressibleByArgument { case resolve, drop }

    func run() throws {
        let display = BuildProgress(mode: progress)
        do {
            try convert(display)
        } catch let e as ExitCode {
            display.close()
            throw e
        } catch {
            display.failed("\(error)")
            display.close()
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }

    func convert(_ display: BuildProgress) throws {
        CacheUse.holdShared(registry.cacheDirectory)
        try image.checkInfoPath()
        let source = try ImageSource(imageName)
        let squash = try image.squashFSOptions(cacheDirectory: registry.cacheDirectory)
        display.expectedTotal = 2
        display.start("[internal] load metadata and layers for \(source)")
        let pulled = try registry.puller(platform: platform, progress: display).pull(source)
        display.done()
        for w in pulled.warnings { display.message("warning: \(w)") }
        let flat = try FlattenedImage(layers: pulled.layers.map { LayerFile(path: $0.path, digest: $0.digest) })
        var config = try ContainerConfig(of: pulled)
        if let user = config.user, !user.isEmpty {
            switch userPolicy {
            case .drop:
                config.user = nil
            case .resolve:
                let files = try flat.readFiles(["/etc/passwd", "/etc/group"])
                let db = UserDatabase(passwd: files["/etc/passwd"].map { String(decoding: $0, as: UTF8.self) },
                                      group: files["/etc/group"].map { String(decoding: $0, as: UTF8.self) })
                do {
                    let ids = try db.resolve(user)
                    config.user = "\(ids.uid):\(ids.gid)"
                } catch {
                    throw ValidationError("\(pulled.source): USER \(user): \(error.message); use --user-policy drop to write no User")
                }
            }
        }
        let path = try output ?? publish.outputName(imageID: pulled.configDigest) ?? defaultName(pulled, source: source)
        let sourceInfo = ["source_digest": pulled.manifestDigest, "image_id": pulled.configDigest]
        display.start("writing image \(path)")
        let result = try GVMIImageWriter.write(to: path, options: squash, config: config, chunkSize: publish.chunkSize(),
                                               hashes: ImageHashStore(directory: CacheLayout(registry.cacheDirectory).hashes)) { writer in
            // The bar's total: the final tree's file bytes (each hard-linked file once).
            let total = flat.fileBytes
            writer.onData = { display.transfer("squashfs", current: Int64(clamping: $0), total: max(total, Int64(clamping: $0))) }
            try flat.write(to: writer)
            try BootFiles.add(to: writer)
        }
        display.status("squashfs \(result.compression.rawValue): \(result.squashfs.inodes) inodes, \(result.size) bytes done")
        display.status("sha3-224 \(result.sha3_224) done")
        display.done()
        try image.completing(result) {
            // Golem's view of the result: the config rules and the image rules lint runs with --image.
            if config.entrypoint != nil || config.cmd != nil {
                display.message("warning: \(pulled.source): ENTRYPOINT/CMD is not run on Golem unless the requestor starts it with start-entrypoint [GVM001]")
            }
            if (config.volumes ?? []).isEmpty {
                display.message("warning: \(pulled.source): no VOLUME declared: file transfers have no target and all writes go to RAM [GVM003]")
            }
            let entries = try SquashFSReader(path: result.path).entries()
            for f in ImageRules.check(entries: entries, volumes: config.volumes ?? [], compression: squash.compression.algorithm,
                                      imageSize: result.size, file: result.path) where f.severity != .info {
                display.message("\(f.severity.rawValue): \(pulled.source): \(f.message) [\(f.rule)]")
            }
            try image.writeInfo(result, source: pulled.source, extra: sourceInfo)
        }
        // A push follows the conversion's vertices on the same display.
        let pushed: PushResult?
        do { pushed = try publish.pushIfRequested(result, display: display) } catch {
            display.close()
            printImageResult(result)
            throw error
        }
        display.close()
        if let metadataFile {
            var object = ImageMetadata.object(result, config: config)
            object["source"] = ["reference": pulled.source, "manifest_digest": pulled.manifestDigest, "image_id": pulled.configDigest]
            if let pushed { object["push"] = pushMetadata(pushed) }
            try writeMetadataFile(object, to: metadataFile)
        }
        printImageResult(result)
        if let pushed {
            printPushResult(pushed)
            try image.writeInfo(result, source: pulled.source, extra: sourceInfo.merging(pushInfo(pushed)) { $1 })
        }
        if display.mode == .plain || display.mode == .tty { printError(display.summary(result: "converted \(result.path)")) }
    }

    func defaultName(_ pulled: PulledImage, source: ImageSource) -> String {
        let id = pulled.configDigest.dropFirst("sha256:".count).prefix(10)
        switch source {
        case .registry(let ref):
            let name = ref.repository.split(separator: "/").last.map(String.init) ?? "image"
            return "\(name)-\(ref.tag ?? "latest")-\(id).gvmi"
        case .ociLayout(let dir, let tag), .dockerArchive(let dir, let tag):
            let name = ((dir as NSString).lastPathComponent as NSString).deletingPathExtension
            return "\(name.isEmpty ? "image" : name)-\(tag.map { $0.split(separator: ":").last.map(String.init) ?? $0 } ?? "latest")-\(id).gvmi"
        }
    }
}
