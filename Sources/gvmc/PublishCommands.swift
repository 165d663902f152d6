// `gvmc push` and `pull`, and the `--push` of build and convert: the Golem
// registry from the command line. GolemRegistry does the work; this file parses and prints.
import ArgumentParser
import Build
import BuildCache
import Foundation
import GolemRegistry
import GVMI
import Progress
import Registry
import Executor

/// Where and how to upload (push, build --push, convert --push).
struct UploadFlags: ParsableArguments {
    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(help: "Chunks uploaded in parallel.")
    var uploadWorkers = 4

    @Option(
        help:
            "Upload chunk size, in bytes or with K/M/G (binary; default as gvmkit-build: 2M up to 200 MiB files, then 5M, 10M, 20M, 50M, and 100M past 5 GiB)."
    )
    var chunkSize: String?

    var registryURL: String { registry ?? PushOptions.defaultRegistry() }

    /// Bad values stop the command before it builds or reads anything.
    func validate() throws {
        guard uploadWorkers >= 1 else { throw ValidationError("--upload-workers must be at least 1") }
        if let chunkSize, (StorageSize.parse(chunkSize) ?? 0) <= 0 {
            throw ValidationError("--chunk-size \(chunkSize): expected a size such as 2M")
        }
    }

    /// The options of a push; its progress and notes are set by `push`.
    func pushOptions() throws -> PushOptions {
        try validate()
        var options = PushOptions(registry: registryURL)
        options.workers = uploadWorkers
        options.chunkSize = chunkSize.flatMap(StorageSize.parse).map(UInt64.init)
        if let seconds = ProcessInfo.processInfo.environment["GVMC_REGISTRY_COMPLETE_SECONDS"].flatMap(Double.init) {
            options.completionTimeout = seconds
        }
        return options
    }
}

/// `--push`/`--push-to` of build and convert.
struct PublishFlags: ParsableArguments {
    @Flag(
        help:
            "Push the image to the Golem registry after it is written: to --tag (or --push-to) when given, else anonymously. `--push USER/REPO:TAG` is read as --push-to."
    )
    var push = false

    @Option(name: .customLong("push-to"), help: "Push the image as USER/REPO:TAG after it is written.")
    var pushTo: String?

    @Option(name: .shortAndLong, help: "USER/REPO:TAG: names the output file (user-repo-tag.gvmi) and is the tag --push pushes to.")
    var tag: String?

    @OptionGroup var upload: UploadFlags

    /// The default output file for --tag (GolemImageName.outputName).
    func outputName(imageID: String) throws -> String? {
        try tag.map { try parseName($0).outputName(imageID: imageID) }
    }

    /// For build, whose image has no Docker image id: the output named after the image hash
    /// (SHA3-224) once written; the name without it while it is written.
    func outputNaming() throws -> (whileWritten: String, naming: (String) -> String)? {
        guard let name = try tag.map(parseName) else { return nil }
        return (ImagePull.Reference.tag(name).defaultOutput, { sha3 in name.outputName(imageID: sha3) })
    }

    var requested: Bool { push || pushTo != nil }

    /// For GVMIImageWriter.write: the upload's chunk size when a push follows, so the writer's
    /// read-back also computes the descriptor and the push need not read the file to hash it.
    func chunkSize() throws -> ((UInt64) -> UInt64)? {
        guard requested else { return nil }
        let fixed = try upload.pushOptions().chunkSize
        return { size in fixed ?? ImageDescriptor.defaultChunkSize(fileSize: size) }
    }

    /// Pushes the image `result` wrote when asked to, as further vertices of the command's
    /// display (the caller prints the result after closing it).
    func pushIfRequested(_ result: GVMIResult, display: BuildProgress) throws -> PushResult? {
        guard requested else { return nil }
        let name = try (pushTo ?? tag).map(parseName)
        return try pushImage(result.path, name: name, options: upload.pushOptions(), display: display, known: ImageDescriptor(result))
    }
}

/// Publishing.push for a command: its error is printed after the display and ends the command.
func pushImage(
    _ path: String, name: GolemImageName?, options: PushOptions, display: BuildProgress, known: ImageDescriptor? = nil
) throws -> PushResult {
    do { return try Publishing.push(path, name: name, options: options, display: display, known: known) } catch { throw ExitCode(1) }
}

/// What a requestor needs to use a pushed image, on standard output (the result lines; quiet too).
func printPushResult(_ r: PushResult) {
    for line in r.resultLines { print(line) }
}

func parseName(_ text: String) throws -> GolemImageName {
    do { return try GolemImageName(text) } catch { throw ValidationError("\(error)") }
}

/// `gvmc build --push alice/app:1.0 .`: `--push` followed by a tagged name (not an existing
/// path) is read as `--push-to NAME`, since ArgumentParser options cannot take an optional value.
func rewritePushArgument(_ arguments: [String]) -> [String] {
    var out = arguments
    guard out.count > 2, ["build", "convert"].contains(out[1]) else { return out }
    for i in 2..<(out.count - 1) where out[i] == "--push" {
        let next = out[i + 1]
        if GolemImageName.looksLikeTaggedName(next) && !FileManager.default.fileExists(atPath: next) { out[i] = "--push-to" }
    }
    return out
}

/// gvmkit-build's `--extra-json-info-path` file for a push, written whole or not at all.
func writePushInfo(_ r: PushResult, to path: String) throws {
    let temporary = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: Data(r.gvmkitInfo.fileBytes())), rename(temporary, path) == 0 else {
        unlink(temporary)
        throw ValidationError("cannot write --extra-json-info-path \(path)")
    }
}

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Upload a .gvmi to the Golem registry (resumable; only missing chunks are sent).",
        discussion:
            "With USER/REPO:TAG the image is tagged for that user (credentials from REGISTRY_USER/REGISTRY_TOKEN or gvmc login, checked before any upload); without it, it is uploaded anonymously and named by its hash. Prints the SHA3-224 image hash, the download URL and the hash:sha3:<hash>:<url> task package."
    )

    @Argument(help: "The .gvmi file.")
    var file: String

    @Argument(help: "USER/REPO[:TAG] to tag the image with (default tag: latest).")
    var name: String?

    @OptionGroup var upload: UploadFlags

    @Option(
        help:
            "Progress: auto, plain (BuildKit's plain output: checking, hashing and pushing as steps, the upload's size and time), tty (a live view with the upload's bar, rate and time left), quiet (only warnings, errors and the result), rawjson (one BuildKit SolveStatus-shaped JSON object per line)."
    )
    var progress: ProgressMode = .auto

    @Option(help: "Also write the result as JSON: repoInfo, imagePath, size, imageSha3_224, descriptorSha256, downloadUrl, taskPackage.")
    var extraJsonInfoPath: String?

    @Option(
        help:
            "The cache directory where gvmc records the hashes of the images it writes, so an image it built is not read again to hash it (default: $XDG_CACHE_HOME/gvmc, else ~/.cache/gvmc)."
    )
    var cacheDir: String?

    @Option(
        help:
            "Write a JSON file with the image (path, size, sha3_224) and the push (registry, tag, download_url, task_package, descriptor_sha256, chunks_sent, chunks_total), as docker buildx --metadata-file."
    )
    var metadataFile: String?

    @OptionGroup var manifest: ManifestOutputOptions

    func run() throws {
        try manifest.check(downloadURLComing: true)
        let tag = try name.map(parseName)
        var options = try upload.pushOptions()
        let cache = absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        options.hashes = ImageHashStore(directory: CacheLayout(cache).hashes)
        let display = BuildProgress(mode: progress, title: "Pushing")
        let r: PushResult
        do { r = try pushImage(file, name: tag, options: options, display: display) } catch {
            display.close()
            throw error
        }
        display.close()
        printPushResult(r)
        if let extraJsonInfoPath { try writePushInfo(r, to: extraJsonInfoPath) }
        if let metadataFile {
            var metadata = ImageMetadata(image: .init(path: r.path, size: r.size, sha3_224: r.sha3))
            metadata.push = r.metadata
            try writeMetadataFile(metadata, to: metadataFile)
        }
        try manifest.write(image: r.path, sha3_224: r.sha3, downloadURL: r.downloadURL)
    }
}

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Download an image from the Golem registry by tag or hash, checking its SHA3-224.")

    @Argument(help: "USER/REPO[:TAG], or the image's SHA3-224 hash (56 hex digits).")
    var reference: String

    @Option(name: .shortAndLong, help: "Output file (default: user-repo-tag.gvmi, or <hash>.gvmi).")
    var output: String?

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(
        help:
            "Progress: auto, plain (BuildKit's plain output: resolving and downloading as steps, the download's size and time), tty (a live view with the download's bar, rate and time left), quiet (only warnings, errors and the result), rawjson (one BuildKit SolveStatus-shaped JSON object per line)."
    )
    var progress: ProgressMode = .auto

    func run() throws {
        let ref: ImagePull.Reference
        do { ref = try ImagePull.Reference(reference) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let path = output ?? ref.defaultOutput
        let url = Publishing.trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        let display = BuildProgress(mode: progress, title: "Pulling")
        let shown = RegistryDisplay(
            display, names: [.resolving: "resolving \(reference) at \(url)", .downloading: "downloading \(reference) to \(path)"])
        let info: ImageInfo
        do {
            info = try ImagePull.pull(ref, to: path, registry: url, progress: shown.progress, log: { shown.log($0) })
            shown.finish()
            display.close()
        } catch {
            shown.fail("\(error)")
            display.close()
            throw ExitCode(1)
        }
        print("pulled \(reference) to \(path)")
        print("  image hash    \(info.sha3) (checked)")
        print("  task package  hash:sha3:\(info.sha3):\(info.url)")
    }
}
