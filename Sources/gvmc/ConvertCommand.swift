// `gvmc convert`: a registry image (or an OCI layout) → .gvmi, gvmkit-build's job without Docker.
// The command parses and prints; ImageConversion (Build) pulls and writes.
import ArgumentParser
import Build
import Foundation
import GolemRegistry
import GVMI
import Progress
import Registry
import RootFS

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

/// `gvmc convert`: the flags onto a ConversionRequest, the result printed (ImageConversion converts).
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
    var userPolicy: ConversionRequest.UserPolicy = .resolve

    @OptionGroup var registry: RegistryFlags
    @OptionGroup var image: ImageOptions
    @OptionGroup var publish: PublishFlags

    @Option(help: "Progress: auto, plain (BuildKit's plain output: the pull with each layer's size and time, the image write), tty, quiet (only warnings, errors and the result), rawjson.")
    var progress: ProgressMode = .auto

    @Option(help: "Write a JSON file with the image (path, size, hashes, compression), its configuration and its source, as docker buildx --metadata-file.")
    var metadataFile: String?

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
        var request = ConversionRequest(source: source, platform: platform, cacheDirectory: registry.cacheDirectory,
                                        squashFS: try image.squashFSOptions(cacheDirectory: registry.cacheDirectory))
        request.userPolicy = userPolicy
        request.outputPath = output
        request.outputNaming = { [publish] imageID in try publish.outputName(imageID: imageID) }
        request.chunkSize = try publish.chunkSize()
        let conversion = ImageConversion(request, progress: display) { [registry] p in try registry.puller(platform: p, progress: display) }
        let converted = try conversion.run()
        let result = converted.image
        try image.completing(result) {
            try conversion.checkForGolem(converted)
            try image.writeInfo(result, source: converted.pulled.source, extra: converted.sourceInfo)
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
            var object = converted.metadata()
            if let pushed { object["push"] = pushMetadata(pushed) }
            try writeMetadataFile(object, to: metadataFile)
        }
        printImageResult(result)
        if let pushed {
            printPushResult(pushed)
            try image.writeInfo(result, source: converted.pulled.source, extra: converted.sourceInfo.merging(pushInfo(pushed)) { $1 })
        }
        if display.mode == .plain || display.mode == .tty { printError(display.summary(result: "converted \(result.path)")) }
    }
}

extension ConversionRequest.UserPolicy: ExpressibleByArgument {}
