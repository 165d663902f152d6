// `gvmc build`: a Dockerfile and its context → a .gvmi, with no Docker daemon.
import BuildCache
import ArgumentParser
import Build
import Progress
import BuildPlan
import Foundation
import GolemRegistry
import GVMI
import Executor
import Sandbox

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Build a .gvmi image from a Dockerfile.",
        discussion:
            "FROM takes registry images (pulled into the blob cache), oci-layout://DIR[:TAG], scratch and stages of the same Dockerfile. COPY/ADD of local files (with .dockerignore) and --from stages or images, RUN in a namespace sandbox (as root, or unprivileged in a user namespace), and every configuration instruction. ADD of http(s) URLs downloads (with --checksum). RUN --mount=type=ssh forwards the agents given with --ssh (sockets, or key files served by an agent of gvmc's own). ADD of git repositories over https or SSH (#ref:subdir, --keep-git-dir, submodules; credentials from the GIT_AUTH_TOKEN secret or the --ssh default agent)."
    )

    @Option(name: .shortAndLong, help: "The Dockerfile (default: CONTEXT/Dockerfile; '-' reads standard input).")
    var file: String?

    @Option(name: .shortAndLong, help: "Output .gvmi (default: <context name>[-<target>].gvmi).")
    var output: String?

    @Option(name: .customLong("build-arg"), help: "A build argument KEY=VALUE (repeatable; KEY alone takes it from the environment).")
    var buildArgs: [String] = []

    @Option(help: "The stage to build (default: the last).")
    var target: String?

    @Option(help: "Target platform; Golem runs linux/amd64.")
    var platform = "linux/amd64"

    @Option(
        help:
            "Progress: auto, plain (BuildKit's plain output: steps, their output with times, DONE/CACHED/ERROR), tty (the same for now), quiet (only warnings, errors and the result), rawjson (one BuildKit SolveStatus-shaped JSON object per line)."
    )
    var progress: ProgressMode = .auto

    @Option(
        help:
            "Write a JSON file with the image, its configuration and every step (key, cached, duration), as docker buildx --metadata-file.")
    var metadataFile: String?

    @Flag(help: "Run every step, even those whose result is in the step cache (results not in the cache yet are stored).")
    var noCache = false

    @Option(help: "Network for RUN steps: default (the host's) or none.")
    var network = "default"

    @Option(
        help: "Allow an entitlement: network.host (RUN --network=host) or security.insecure (repeatable; as docker buildx build --allow).")
    var allow: [String] = []

    @Option(help: "A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VARIABLE (repeatable).")
    var secret: [String] = []

    @Option(
        help:
            "An SSH agent for RUN --mount=type=ssh: default (= $SSH_AUTH_SOCK), ID (= $SSH_AUTH_SOCK), ID=SOCKET, or ID=KEYFILE[,KEYFILE...] (keys served by an agent of gvmc's own) (repeatable)."
    )
    var ssh: [String] = []

    @OptionGroup var image: ImageOptions
    @OptionGroup var registry: RegistryFlags
    @OptionGroup var cache: CacheFlags
    @OptionGroup var manifest: ManifestOutputOptions
    @OptionGroup var publish: PublishFlags

    @Argument(help: "The build context directory.")
    var context: String = "."

    func run() throws {
        // Unprivileged: the whole build runs again in a user namespace, as root inside (see
        // UserNamespace). When none can be made, a build without RUN steps goes on here.
        if geteuid() != 0 && UserNamespace.current == nil {
            switch UserNamespace.reexec(arguments: Swift.CommandLine.arguments, log: { printError($0) }) {
            case .exited(let status): throw ExitCode(status)
            case .unavailable(let reason): UserNamespace.unavailableReason = reason
            }
        } else if geteuid() == 0 && !MountNamespace.isPrivate {
            // As root: the build runs again in a mount namespace of its own (see MountNamespace).
            switch MountNamespace.reexec(arguments: Swift.CommandLine.arguments) {
            case .exited(let status): throw ExitCode(status)
            case .unavailable(let reason): printError("warning: \(reason); the build's mounts are made in the host's mount namespace")
            }
        }
        // `gvmc prune` waits while builds use the cache.
        CacheUse.holdShared(registry.cacheDirectory)
        try image.checkInfoPath()
        try manifest.check(downloadURLComing: publish.requested)
        let contextDir = (context as NSString).standardizingPath
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: contextDir, isDirectory: &isDir), isDir.boolValue else {
            throw ValidationError("build context \(context) is not a directory")
        }
        let dockerfilePath = file ?? contextDir + "/Dockerfile"
        let (bytes, name) = try readDockerfile(dockerfilePath)
        var options = BuildOptions()
        options.target = target
        options.targetPlatform = platform
        options.buildPlatform = Sandbox.hostPlatform
        for arg in buildArgs {
            if let eq = arg.firstIndex(of: "=") {
                options.buildArgs[String(arg[..<eq])] = String(arg[arg.index(after: eq)...])
            } else if let value = ProcessInfo.processInfo.environment[arg] {
                options.buildArgs[arg] = value
            }
        }
        guard ["default", "none", "host"].contains(network) else {
            throw ValidationError("--network \(network): expected default, none or host")
        }
        let entitlements = Set(
            try allow.map { v throws in
                do { return try Entitlement.parse(v) } catch { throw ValidationError("--allow \(v): \(error)") }
            })
        if platform != "linux/amd64" {
            printError("warning: --platform \(platform): Golem providers run linux/amd64 VMs only")
        }
        let squash = try image.squashFSOptions(cacheDirectory: registry.cacheDirectory, readStore: !noCache)
        let secretFiles: SecretFiles, agents: SSHAgents
        do {
            secretFiles = try SecretFiles(secret)
            agents = try SSHAgents(ssh)
        } catch {
            throw ValidationError("\(error)")
        }
        defer {
            secretFiles.remove()
            agents.stop()
        }
        let base = (contextDir as NSString).lastPathComponent
        var request = BuildRequest(
            dockerfile: bytes, dockerfileName: name, contextDirectory: contextDir, options: options, platform: platform,
            cacheDirectory: registry.cacheDirectory, squashFS: squash,
            outputPath: "\(base.isEmpty || base == "/" ? "image" : base)\(target.map { "-" + $0 } ?? "").gvmi")
        if let output {
            request.outputPath = output
        } else if let (name, naming) = try publish.outputNaming() {
            (request.outputPath, request.outputNaming) = (name, naming)
        }
        request.chunkSize = try publish.chunkSize()
        request.network = network
        request.entitlements = entitlements
        request.useStepCache = !noCache
        request.secrets = secretFiles.paths
        request.sshAgents = agents.sockets
        (request.cacheFrom, request.cacheTo) = try cache.specs()
        if !request.cacheFrom.isEmpty || !request.cacheTo.isEmpty { request.registryOptions = try registry.options() }
        let display = BuildProgress(mode: progress)
        let build = ImageBuild(request) { [registry] p in try registry.puller(platform: p, progress: display) }
        build.progress = display
        build.diagnostic = { line in
            display.message(line)
            if let annotation = githubAnnotation(line) { print(annotation) }
        }
        let result: GVMIResult
        do { result = try build.run() } catch {
            display.close()
            if case .image(let underlying) = error { throw underlying }
            let message = "error: \(error)"
            if display.mode == .plain || display.mode == .tty {
                let line = Int("\(error)".dropFirst(name.count + 1).prefix { $0.isNumber })
                printError(
                    display.failureReport(dockerfile: bytes, file: name, line: "\(error)".hasPrefix(name + ":") ? line : nil),
                    terminator: "")
            }
            printError(message)
            if let annotation = githubAnnotation(message) { print(annotation) }
            throw ExitCode(1)
        }
        try image.completing(result) {
            try image.writeInfo(result, source: dockerfilePath)
            if !publish.requested { try manifest.write(image: result.path, sha3_224: result.sha3_224) }
        }
        // A push follows the build's vertices on the same display.
        let pushed: PushResult?
        do { pushed = try publish.pushIfRequested(result, display: display) } catch {
            display.close()
            printImageResult(result)
            build.finish()
            throw error
        }
        display.close()
        if let metadataFile {
            var metadata = build.metadata(result)
            metadata.push = pushed?.metadata
            try writeMetadataFile(metadata, to: metadataFile)
        }
        printImageResult(result)
        if let pushed { printPushResult(pushed) }
        if display.mode == .plain || display.mode == .tty { printError(display.summary(result: "built \(result.path)")) }
        build.finish()
        for line in CacheCollection.collect(
            registry.cacheDirectory, setting: ProcessInfo.processInfo.environment["GVMC_CACHE_KEEP_STORAGE"])
        where display.mode != .quiet || line.hasPrefix("warning:") {
            printError(line)
        }
        if let pushed {
            try image.writeInfo(result, source: dockerfilePath, extra: pushed.info)
            try manifest.write(image: result.path, sha3_224: result.sha3_224, downloadURL: pushed.downloadURL)
        }
    }
}

extension ProgressMode: ExpressibleByArgument {}

/// The GitHub Actions workflow command for a diagnostic line, when running there.
func githubAnnotation(_ line: String) -> String? {
    guard ProcessInfo.processInfo.environment["GITHUB_ACTIONS"] == "true" else { return nil }
    return Annotations.github(line)
}
