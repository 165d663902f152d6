// `gvmc convert`: a registry image (or an OCI layout) → .gvmi, gvmkit-build's job without Docker.
// The command parses and prints; ImageConversion (Build) pulls and writes.
import BuildCache
import ArgumentParser
import Build
import Foundation
import GolemRegistry
import GVMI
import Progress
import Registry
import Executor

/// `gvmc convert`: the flags onto a ConversionRequest, the result printed (ImageConversion converts).
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert", abstract: "Convert a registry image (or an OCI layout) into a .gvmi, without Docker.",
        discussion:
            "IMAGE is a reference (alpine:3.19, localhost:5000/app:1, ...@sha256:...), docker://REF, oci-layout://DIR[:TAG], or docker-archive://FILE.tar[:TAG] (`docker save` output)."
    )

    @Argument(help: "The image to convert.")
    var imageName: String

    @Option(name: .shortAndLong, help: "Output file (default: <name>-<tag>-<first 10 hex of the image id>.gvmi, like gvmkit-build).")
    var output: String?

    @Option(help: "Platform to take from a multi-platform index; Golem runs linux/amd64.")
    var platform = "linux/amd64"

    @Option(
        help:
            "User in the trailer: 'resolve' (numeric uid:gid through the image's /etc/passwd and /etc/group) or 'drop' (no User, like gvmkit-build)."
    )
    var userPolicy: ConversionRequest.UserPolicy = .resolve

    @OptionGroup var registry: RegistryFlags
    @OptionGroup var image: ImageOptions
    @OptionGroup var publish: PublishFlags

    @Option(
        help:
            "Progress: auto, plain (BuildKit's plain output: the pull with each layer's size and time, the image write), tty, quiet (only warnings, errors and the result), rawjson."
    )
    var progress: ProgressMode = .auto

    @Option(
        help:
            "Write a JSON file with the image (path, size, hashes, compression), its configuration and its source, as docker buildx --metadata-file."
    )
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
        var request = ConversionRequest(
            source: source, platform: platform, cacheDirectory: registry.cacheDirectory,
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
            var metadata = converted.metadata()
            metadata.push = pushed?.metadata
            try writeMetadataFile(metadata, to: metadataFile)
        }
        printImageResult(result)
        if let pushed {
            printPushResult(pushed)
            try image.writeInfo(result, source: converted.pulled.source, extra: converted.sourceInfo.merging(pushed.info) { $1 })
        }
        if display.mode == .plain || display.mode == .tty { printError(display.summary(result: "converted \(result.path)")) }
    }
}

extension ConversionRequest.UserPolicy: ExpressibleByArgument {}
