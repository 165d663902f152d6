// `gvmc push`, `pull`, `login` and `logout`, and the `--push` of build and convert: the Golem
// registry from the command line. GolemRegistry does the work; this file parses and prints.
import ArgumentParser
import Build
import CacheLayout
import Foundation
import GolemRegistry
import GVMI
import Progress
import Registry
import RootFS

/// Where and how to upload (push, build --push, convert --push).
struct UploadFlags: ParsableArguments {
    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(help: "Chunks uploaded in parallel.")
    var uploadWorkers = 4

    @Option(help: "Upload chunk size, in bytes or with K/M/G (binary; default as gvmkit-build: 2M up to 200 MiB files, then 5M, 10M, 20M, 50M, and 100M past 5 GiB).")
    var chunkSize: String?

    var registryURL: String { registry ?? PushOptions.defaultRegistry() }

    /// Bad values stop the command before it builds or reads anything.
    func validate() throws {
        guard uploadWorkers >= 1 else { throw ValidationError("--upload-workers must be at least 1") }
        if let chunkSize, (StorageSize.parse(chunkSize) ?? 0) <= 0 { throw ValidationError("--chunk-size \(chunkSize): expected a size such as 2M") }
    }

    /// The options of a push; its progress and notes are set by `push`.
    func pushOptions() throws -> PushOptions {
        var options = PushOptions(registry: registryURL)
        guard uploadWorkers >= 1 else { throw ValidationError("--upload-workers must be at least 1") }
        options.workers = uploadWorkers
        if let chunkSize {
            guard let bytes = StorageSize.parse(chunkSize), bytes > 0 else { throw ValidationError("--chunk-size \(chunkSize): expected a size such as 2M") }
            options.chunkSize = UInt64(bytes)
        }
        if let seconds = ProcessInfo.processInfo.environment["GVMC_REGISTRY_COMPLETE_SECONDS"].flatMap(Double.init) {
            options.completionTimeout = seconds
        }
        return options
    }
}

/// `--push`/`--push-to` of build and convert.
struct PublishFlags: ParsableArguments {
    @Flag(help: "Push the image to the Golem registry after it is written: to --tag (or --push-to) when given, else anonymously. `--push USER/REPO:TAG` is read as --push-to.")
    var push = false

    @Option(name: .customLong("push-to"), help: "Push the image as USER/REPO:TAG after it is written.")
    var pushTo: String?

    @Option(name: .shortAndLong, help: "USER/REPO:TAG: names the output file (user-repo-tag.gvmi) and is the tag --push pushes to.")
    var tag: String?

    @OptionGroup var upload: UploadFlags

    /// The default output file for --tag, as gvmkit-build names it:
    /// `user-repo-tag-<first 10 hex digits of imageID>.gvmi` (imageID: hex, or `sha256:` hex).
    func outputName(imageID: String) throws -> String? {
        guard let tag else { return nil }
        let base = ImagePull.Reference.tag(try parseName(tag)).defaultOutput.dropLast(".gvmi".count)
        return "\(base)-\(imageID.split(separator: ":").last?.prefix(10) ?? "").gvmi"
    }

    /// For build, whose image has no Docker image id: the output named after the image hash
    /// (SHA3-224) once written; the name without it while it is written.
    func outputNaming() throws -> (whileWritten: String, naming: (String) -> String)? {
        guard let tag else { return nil }
        let name = ImagePull.Reference.tag(try parseName(tag)).defaultOutput
        return (name, { sha3 in "\(name.dropLast(".gvmi".count))-\(sha3.prefix(10)).gvmi" })
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

/// What `build`/`convert --extra-json-info-path` adds after a push: what a requestor needs.
func pushInfo(_ r: PushResult) -> [String: String] {
    var info = ["download_url": r.downloadURL, "task_package": r.taskPackage, "descriptor_sha256": r.descriptorID, "registry": r.registry]
    if let name = r.name { info["tag"] = name.description }
    return info
}

/// The `push` object of a `--metadata-file`: `pushInfo`'s fields and the chunks sent of all.
func pushMetadata(_ r: PushResult) -> [String: Any] {
    var object: [String: Any] = pushInfo(r)
    object["chunks_sent"] = r.chunksSent
    object["chunks_total"] = r.chunkCount
    return object
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

/// Credentials for `registry`, saying where they came from in `note`.
func registryCredentials(_ registry: String, note: (String) -> Void) throws -> RegistryCredentials? {
    guard let (credentials, source) = try GolemCredentialStore().resolve(registry: trimmedRegistry(registry)) else { return nil }
    note("using the credentials of \(credentials.username) from \(source)")
    return credentials
}

func trimmedRegistry(_ url: String) -> String {
    var url = url
    while url.hasSuffix("/") { url.removeLast() }
    return url
}

/// Pushes `path`, shown on `display` after the vertices already there: `[internal] checking`,
/// `hashing` (unless `known` is the file's descriptor) and `pushing to REGISTRY` with the upload's
/// bar. A failure ends the vertex with ERROR and is printed after the display.
func pushImage(_ path: String, name: GolemImageName?, options: PushOptions, display: BuildProgress, known: ImageDescriptor? = nil) throws -> PushResult {
    let shown = RegistryDisplay(display, names: [
        .checking: "[internal] checking \(path)",
        .hashing: "hashing \(path)",
        .uploading: "pushing to \(trimmedRegistry(options.registry))" + (name.map { " as \($0)" } ?? ""),
    ])
    var options = options
    options.progress = shown.progress
    options.log = { shown.log($0) }
    do {
        let credentials = name == nil ? nil : try registryCredentials(options.registry) { shown.log($0) }
        let r = try ImagePush.push(path: path, name: name, credentials: credentials, options: options, known: known)
        shown.finish()
        return r
    } catch let e as GolemRegistryError {
        shown.fail("\(e)")
        throw ExitCode(1)
    }
}

/// What a requestor needs to use a pushed image, on standard output (the result lines; quiet too).
func printPushResult(_ r: PushResult) {
    print("pushed \(r.path) to \(r.registry) (\(r.chunksSent) of \(r.chunkCount) chunks sent)")
    print("  image hash    \(r.sha3)")
    print("  download URL  \(r.downloadURL)")
    print("  task package  \(r.taskPackage)")
    print("  tag           \(r.name.map { $0.description } ?? "none (anonymous upload, named by its hash)")")
}

/// gvmkit-build's `--extra-json-info-path` fields, with the hashes named for what they are.
func writePushInfo(_ r: PushResult, to path: String) throws {
    var info: [String: Any] = [
        "imagePath": r.path, "size": r.size, "registry": r.registry,
        "imageSha3_224": r.sha3, "descriptorSha256": r.descriptorID,
        "downloadUrl": r.downloadURL, "taskPackage": r.taskPackage,
    ]
    if let name = r.name {
        info["repoInfo"] = ["url": r.registry, "user": name.user ?? "", "repo": name.repository, "tag": name.tag]
    } else {
        info["repoInfo"] = NSNull()
    }
    let data = try JSONSerialization.data(withJSONObject: info, options: [.prettyPrinted, .sortedKeys])
    let temporary = path + ".tmp-\(getpid())"
    guard FileManager.default.createFile(atPath: temporary, contents: data + Data("\n".utf8)), rename(temporary, path) == 0 else {
        unlink(temporary)
        throw ValidationError("cannot write --extra-json-info-path \(path)")
    }
}

struct PushCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "push", abstract: "Upload a .gvmi to the Golem registry (resumable; only missing chunks are sent).",
        discussion: "With USER/REPO:TAG the image is tagged for that user (credentials from REGISTRY_USER/REGISTRY_TOKEN or gvmc login, checked before any upload); without it, it is uploaded anonymously and named by its hash. Prints the SHA3-224 image hash, the download URL and the hash:sha3:<hash>:<url> task package.")

    @Argument(help: "The .gvmi file.")
    var file: String

    @Argument(help: "USER/REPO[:TAG] to tag the image with (default tag: latest).")
    var name: String?

    @OptionGroup var upload: UploadFlags

    @Option(help: "Progress: auto, plain (BuildKit's plain output: checking, hashing and pushing as steps, the upload's size and time), tty (a live view with the upload's bar, rate and time left), quiet (only warnings, errors and the result), rawjson (one BuildKit SolveStatus-shaped JSON object per line).")
    var progress: ProgressMode = .auto

    @Option(help: "Also write the result as JSON: repoInfo, imagePath, size, imageSha3_224, descriptorSha256, downloadUrl, taskPackage.")
    var extraJsonInfoPath: String?

    @Option(help: "The cache directory where gvmc records the hashes of the images it writes, so an image it built is not read again to hash it (default: $XDG_CACHE_HOME/gvmc, else ~/.cache/gvmc).")
    var cacheDir: String?

    @Option(help: "Write a JSON file with the image (path, size, sha3_224) and the push (registry, tag, download_url, task_package, descriptor_sha256, chunks_sent, chunks_total), as docker buildx --metadata-file.")
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
            let image: [String: Any] = ["path": r.path, "size": r.size, "sha3_224": r.sha3]
            try writeMetadataFile(["image": image, "push": pushMetadata(r)], to: metadataFile)
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

    @Option(help: "Progress: auto, plain (BuildKit's plain output: resolving and downloading as steps, the download's size and time), tty (a live view with the download's bar, rate and time left), quiet (only warnings, errors and the result), rawjson (one BuildKit SolveStatus-shaped JSON object per line).")
    var progress: ProgressMode = .auto

    func run() throws {
        let ref: ImagePull.Reference
        do { ref = try ImagePull.Reference(reference) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let path = output ?? ref.defaultOutput
        let url = trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        let display = BuildProgress(mode: progress, title: "Pulling")
        let shown = RegistryDisplay(display, names: [.resolving: "resolving \(reference) at \(url)", .downloading: "downloading \(reference) to \(path)"])
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

struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Check a Golem registry token and store it for push (in a file only you can read).")

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(name: .shortAndLong, help: "The registry user (asked for on a terminal when missing).")
    var username: String?

    @Flag(help: "Read the token (personal access token) from standard input.")
    var passwordStdin = false

    func run() throws {
        let url = trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        guard let user = username ?? prompt("Username: ") , !user.isEmpty else { throw ValidationError("a --username is needed") }
        let token: String
        if passwordStdin {
            token = (readLine(strippingNewline: true) ?? "").trimmingCharacters(in: .whitespaces)
        } else if isatty(0) != 0, let typed = getpass("Token: ") {
            token = String(cString: typed)
        } else {
            throw ValidationError("standard input is not a terminal: pass the token with --password-stdin")
        }
        guard !token.isEmpty else { throw ValidationError("the token is empty") }
        let credentials = RegistryCredentials(username: user, token: token)
        let store = GolemCredentialStore()
        do throws(GolemRegistryError) {
            try GolemRegistryClient(registry: url).checkLogin(credentials)
            try store.save(credentials, registry: url)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print("logged in to \(url) as \(user); the token is stored in \(store.path) (mode 0600)")
    }

    func prompt(_ text: String) -> String? {
        guard isatty(0) != 0 else { return nil }
        FileHandle.standardError.write(Data(text.utf8))
        return readLine(strippingNewline: true)
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout", abstract: "Remove the stored Golem registry credentials.")

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    func run() throws {
        let url = trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        let store = GolemCredentialStore()
        do throws(GolemRegistryError) {
            if try store.remove(registry: url) {
                print("removed the credentials for \(url) from \(store.path)")
            } else {
                print("no credentials for \(url) in \(store.path)")
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
