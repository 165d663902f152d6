// `gvmc push`, `pull`, `login` and `logout`, and the `--push` of build and convert: the Golem
// registry from the command line. GolemRegistry does the work; this file parses and prints.
import ArgumentParser
import CacheLayout
import Foundation
import GolemRegistry
import GVMI
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

    func pushOptions(progress: ProgressStyle) throws -> PushOptions {
        var options = PushOptions(registry: registryURL)
        guard uploadWorkers >= 1 else { throw ValidationError("--upload-workers must be at least 1") }
        options.workers = uploadWorkers
        if let chunkSize {
            guard let bytes = StorageSize.parse(chunkSize), bytes > 0 else { throw ValidationError("--chunk-size \(chunkSize): expected a size such as 2M") }
            options.chunkSize = UInt64(bytes)
        }
        options.progress = progress
        if let seconds = ProcessInfo.processInfo.environment["GVMC_REGISTRY_COMPLETE_SECONDS"].flatMap(Double.init) {
            options.completionTimeout = seconds
        }
        if progress != .quiet { options.log = { printError($0) } }
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
        let fixed = try upload.pushOptions(progress: .quiet).chunkSize
        return { size in fixed ?? ImageDescriptor.defaultChunkSize(fileSize: size) }
    }

    /// Pushes the image `result` wrote when asked to; prints what a requestor needs.
    @discardableResult
    func pushIfRequested(_ result: GVMIResult, progress: ProgressStyle) throws -> PushResult? {
        guard requested else { return nil }
        let name = try (pushTo ?? tag).map(parseName)
        return try runPush(result.path, name: name, options: upload.pushOptions(progress: progress), infoPath: nil,
                           known: ImageDescriptor(result))
    }
}

/// What `build`/`convert --extra-json-info-path` adds after a push: what a requestor needs.
func pushInfo(_ r: PushResult) -> [String: String] {
    var info = ["download_url": r.downloadURL, "task_package": r.taskPackage, "descriptor_sha256": r.descriptorID, "registry": r.registry]
    if let name = r.name { info["tag"] = name.description }
    return info
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

/// Credentials for `registry`, saying where they came from on standard error (unless quiet).
func registryCredentials(_ registry: String, quiet: Bool) throws -> RegistryCredentials? {
    guard let (credentials, source) = try GolemCredentialStore().resolve(registry: trimmedRegistry(registry)) else { return nil }
    if !quiet { printError("using the credentials of \(credentials.username) from \(source)") }
    return credentials
}

func trimmedRegistry(_ url: String) -> String {
    var url = url
    while url.hasSuffix("/") { url.removeLast() }
    return url
}

/// Pushes and prints the result (and with `infoPath`, writes it as JSON).
@discardableResult
func runPush(_ path: String, name: GolemImageName?, options: PushOptions, infoPath: String?, known: ImageDescriptor? = nil) throws -> PushResult {
    do {
        let credentials = name == nil ? nil : try registryCredentials(options.registry, quiet: options.progress == .quiet)
        let r = try ImagePush.push(path: path, name: name, credentials: credentials, options: options, known: known)
        print("pushed \(r.path) to \(r.registry) (\(r.chunksSent) of \(r.chunkCount) chunks sent)")
        print("  image hash    \(r.sha3)")
        print("  download URL  \(r.downloadURL)")
        print("  task package  \(r.taskPackage)")
        print("  tag           \(r.name.map { $0.description } ?? "none (anonymous upload, named by its hash)")")
        if let infoPath { try writePushInfo(r, to: infoPath) }
        return r
    } catch let e as GolemRegistryError {
        printError("error: \(e)")
        throw ExitCode(1)
    }
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

    @Option(help: "auto, plain (a line per 5%), tty (a bar) or quiet (only the result).")
    var progress: ProgressStyle = .auto

    @Option(help: "Also write the result as JSON: repoInfo, imagePath, size, imageSha3_224, descriptorSha256, downloadUrl, taskPackage.")
    var extraJsonInfoPath: String?

    @Option(help: "The cache directory where gvmc records the hashes of the images it writes, so an image it built is not read again to hash it (default: $XDG_CACHE_HOME/gvmc, else ~/.cache/gvmc).")
    var cacheDir: String?

    @OptionGroup var manifest: ManifestOutputOptions

    func run() throws {
        try manifest.check(downloadURLComing: true)
        var options = try upload.pushOptions(progress: progress)
        let cache = absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        options.hashes = ImageHashStore(directory: CacheLayout(cache).hashes)
        let r = try runPush(file, name: try name.map(parseName), options: options, infoPath: extraJsonInfoPath)
        try manifest.write(image: r.path, sha3_224: r.sha3, downloadURL: r.downloadURL)
    }
}

extension ProgressStyle: ExpressibleByArgument {}

struct PullCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pull", abstract: "Download an image from the Golem registry by tag or hash, checking its SHA3-224.")

    @Argument(help: "USER/REPO[:TAG], or the image's SHA3-224 hash (56 hex digits).")
    var reference: String

    @Option(name: .shortAndLong, help: "Output file (default: user-repo-tag.gvmi, or <hash>.gvmi).")
    var output: String?

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(help: "auto, plain, tty or quiet.")
    var progress: ProgressStyle = .auto

    func run() throws {
        do throws(GolemRegistryError) {
            let ref = try ImagePull.Reference(reference)
            let path = output ?? ref.defaultOutput
            let quiet = progress == .quiet
            let log: @Sendable (String) -> Void = { if !quiet { printError($0) } }
            let info = try ImagePull.pull(ref, to: path, registry: registry ?? PushOptions.defaultRegistry(), progress: progress, log: log)
            print("pulled \(reference) to \(path)")
            print("  image hash    \(info.sha3) (checked)")
            print("  task package  hash:sha3:\(info.sha3):\(info.url)")
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
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
