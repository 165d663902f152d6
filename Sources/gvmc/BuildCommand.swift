// `gvmc build`: a Dockerfile and its context → a .gvmi, with no Docker daemon.
import ArgumentParser
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Foundation
import GolemRegistry
import GVMI
import HTTPTransport
import Layers
import Lint
import Registry
import RootFS
import Sandbox
import SSHAgent
import SquashFS

struct BuildCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "build", abstract: "Build a .gvmi image from a Dockerfile.",
        discussion: "FROM takes registry images (pulled into the blob cache), oci-layout://DIR[:TAG], scratch and stages of the same Dockerfile. COPY/ADD of local files (with .dockerignore) and --from stages or images, RUN in a namespace sandbox (as root, or unprivileged in a user namespace), and every configuration instruction. ADD of http(s) URLs downloads (with --checksum). RUN --mount=type=ssh forwards the agents given with --ssh (sockets, or key files served by an agent of gvmc's own). ADD of git repositories over https or SSH (#ref:subdir, --keep-git-dir, submodules; credentials from the GIT_AUTH_TOKEN secret or the --ssh default agent).")

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

    @Option(help: "Step output: auto, plain or tty print each step as it starts; quiet prints only warnings, errors and the result.")
    var progress: Progress = .auto

    @Flag(help: "Run every step, even those whose result is in the step cache (results not in the cache yet are stored).")
    var noCache = false

    enum Progress: String, ExpressibleByArgument { case auto, plain, tty, quiet }

    @Option(help: "Network for RUN steps: default (the host's) or none.")
    var network = "default"

    @Option(help: "Allow an entitlement: network.host (RUN --network=host) or security.insecure (repeatable; as docker buildx build --allow).")
    var allow: [String] = []

    @Option(help: "A secret for RUN --mount=type=secret: id=ID,src=FILE or id=ID,env=VARIABLE (repeatable).")
    var secret: [String] = []

    @Option(help: "An SSH agent for RUN --mount=type=ssh: default (= $SSH_AUTH_SOCK), ID (= $SSH_AUTH_SOCK), ID=SOCKET, or ID=KEYFILE[,KEYFILE...] (keys served by an agent of gvmc's own) (repeatable).")
    var ssh: [String] = []

    @OptionGroup var image: ImageOptions
    @OptionGroup var registry: RegistryFlags
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
        let entitlements = Set(try allow.map { v throws in
            do { return try Entitlement.parse(v) } catch { throw ValidationError("--allow \(v): \(error)") }
        })
        if platform != "linux/amd64" {
            printError("warning: --platform \(platform): Golem providers run linux/amd64 VMs only")
        }
        let squash = try image.squashFSOptions()
        let ignoreText = (try? String(contentsOfFile: contextDir + "/.dockerignore", encoding: .utf8)) ?? ""
        let plan: BuildPlan
        let bases = BaseImages(platform: platform) { [registry] p in try registry.puller(platform: p) }
        do {
            let parsed = try DockerfileParser.parse(bytes: bytes, path: name)
            let staged = try StagedDockerfile.parse(parsed)
            // A stage's FROM --platform picks the image for that platform (the cross-compiling
            // `FROM --platform=$BUILDPLATFORM`); the same platform as --platform is no platform.
            var planned = try BuildPlanner.plan(staged, options: options) { ref, p in
                bases.config(for: ref, platform: p.flatMap { try? bases.normalized($0) })
            }
            for i in planned.stages.indices {
                guard let p = planned.stages[i].platform else { continue }
                do { planned.stages[i].platform = try bases.normalized(p) } catch {
                    printError("error: \(name):\(planned.stages[i].fromPosition): FROM --platform=\(p): \(error)")
                    throw ExitCode(1)
                }
            }
            plan = planned
            try plan.checkEntitlements(entitlements, file: name)
            if let (ref, failure) = bases.failure {
                let at = plan.stages.first { $0.base == .image(ref) }.map { "\(name):\($0.fromPosition): " } ?? "\(name): "
                printError("error: \(at)FROM \(ref): \(failure)")
                throw ExitCode(1)
            }
            // Golem warnings with file:line (lint's rules, as the build sees the Dockerfile).
            var lintOptions = LintOptions()
            lintOptions.dockerIgnore = DockerIgnore(text: ignoreText)
            for f in DockerfileLinter.lint(bytes: bytes, path: name, options: lintOptions) where f.rule.hasPrefix("GVM") && f.severity != .info {
                printError("\(f.file):\(f.line):\(f.column): \(f.severity.rawValue): \(f.message) [\(f.rule)]")
            }
        } catch let e as ExitCode {
            throw e
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let executor = try BuildExecutor(plan: plan, context: BuildContext(directory: contextDir, ignore: DockerIgnore(text: ignoreText)))
        executor.file = name
        executor.log = progress == .quiet ? { _ in } : { printError($0) }
        executor.imageProvider = { ref, platform, root in try bases.extract(ref, platform: platform, to: root) }
        executor.imageTree = { ref, platform in try bases.tree(ref, platform: platform) }
        executor.targetPlatform = platform
        executor.defaultNetwork = network
        executor.urlFetcher = { url, fd in try URLDownload.fetch(url, to: fd) }
        executor.gitFetcher = { url, id, directory, keep, access in
            try GitFetch.checkout(url, id: id, into: directory, keepGitDir: keep,
                                  authorization: GitFetch.authorization(header: access.header, token: access.token), sshAgent: access.sshAgent)
        }
        executor.gitResolver = { url, access in
            try GitFetch.resolve(url, authorization: GitFetch.authorization(header: access.header, token: access.token), sshAgent: access.sshAgent)
        }
        executor.isGitSource = GitFetch.isGitURL
        executor.runCacheDirectory = registry.cacheDirectory + "/run-cache"
        executor.stepCacheDirectory = registry.cacheDirectory + "/steps" + (UserNamespace.idMappingKey.map { "-" + $0 } ?? "")
        executor.useStepCache = !noCache
        let secretFiles = try SecretFiles(secret)
        defer { secretFiles.remove() }
        executor.secrets = secretFiles.paths
        let (agentSockets, keyAgents) = try sshAgents(ssh)
        defer { for a in keyAgents { a.stop() } }
        executor.sshAgents = agentSockets
        let rootfs: String
        do { rootfs = try executor.run() } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let config = plan.targetStage.config
        let containerConfig: ContainerConfig
        do { containerConfig = try makeContainerConfig(config, rootfs: rootfs) } catch {
            printError("error: \(name): \(error)")
            throw ExitCode(1)
        }
        let base = (contextDir as NSString).lastPathComponent
        let outputPath = try output ?? publish.outputName() ?? "\(base.isEmpty || base == "/" ? "image" : base)\(target.map { "-" + $0 } ?? "").gvmi"
        // The executor owns the root filesystem (its directory and overlay mounts) until packed.
        let result = try withExtendedLifetime(executor) {
            try GVMIImageWriter.write(to: outputPath, options: squash, config: containerConfig, chunkSize: publish.chunkSize()) { writer in
                var reader = DirectoryTreeReader(rootPath: rootfs)
                reader.ownerRecords = true
                if geteuid() != 0 { reader.unrecordedOwner = (0, 0) }
                try reader.add(to: writer)
                try BootFiles.add(to: writer)
            }
        }
        try image.completing(result) { try image.writeInfo(result, source: dockerfilePath) }
        printImageResult(result)
        executor.finish()
        collectCache()
        try publish.pushIfRequested(result, progress: ProgressStyle(rawValue: progress.rawValue) ?? .auto)
    }

    /// BuildKit's automatic garbage collection (CachePrune.collect): old cache mounts and
    /// entries, then past GVMC_CACHE_KEEP_STORAGE (default 10% of the cache's filesystem; "off"
    /// disables it all) the least recently used, unless other builds are running.
    func collectCache() {
        let cache = registry.cacheDirectory
        var keep = CachePrune.defaultKeepBytes(cache)
        if let setting = ProcessInfo.processInfo.environment["GVMC_CACHE_KEEP_STORAGE"], !setting.isEmpty {
            if setting == "off" { return }
            guard let bytes = parseStorage(setting) else {
                printError("warning: GVMC_CACHE_KEEP_STORAGE=\(setting) is not a size; the cache was not collected")
                return
            }
            keep = bytes
        }
        for (reason, removed) in CachePrune.collect(cache, keepBytes: keep) where progress != .quiet {
            let total = removed.reduce(Int64(0)) { $0 + $1.bytes }
            let what = "\(removed.count) \(removed.count == 1 ? "entry" : "entries") (\(formatStorage(total)))"
            if reason.hasPrefix("least recently used") {
                printError("cache: removed \(what), \(reason), to keep \(cache) under \(formatStorage(keep)) (GVMC_CACHE_KEEP_STORAGE)")
            } else {
                printError("cache: removed \(what): \(reason)")
            }
        }
    }

    /// The trailer's ContainerConfig: User becomes numeric uid:gid through the image's passwd/group.
    func makeContainerConfig(_ c: ImageConfig, rootfs: String) throws -> ContainerConfig {
        var out = ContainerConfig()
        out.env = c.envList.isEmpty ? nil : c.envList
        out.cmd = c.cmd
        out.entrypoint = c.entrypoint
        out.workingDir = c.workingDir
        out.volumes = c.volumes.isEmpty ? nil : c.volumes
        out.labels = c.labels.isEmpty ? nil : c.labels
        out.exposedPorts = c.exposedPorts.isEmpty ? nil : c.exposedPorts
        out.stopSignal = c.stopSignal
        out.shell = c.shell
        out.onBuild = c.onBuild.isEmpty ? nil : c.onBuild
        if let h = c.healthcheck {
            out.healthcheck = HealthConfig(test: h.test, interval: h.interval == 0 ? nil : h.interval, timeout: h.timeout == 0 ? nil : h.timeout,
                                           retries: h.retries == 0 ? nil : h.retries, startPeriod: h.startPeriod == 0 ? nil : h.startPeriod,
                                           startInterval: h.startInterval == 0 ? nil : h.startInterval)
        }
        if let user = c.user {
            let ids = try UserDatabase(rootfs: rootfs).resolve(user)
            out.user = "\(ids.uid):\(ids.gid)"
        }
        return out
    }
}

/// `--ssh` values as docker build takes them: `ID`, `ID=SOCKET` (an SSH agent's socket) or
/// `ID=KEYFILE[,KEYFILE...]`, whose keys an agent of gvmc's own serves for the build.
func sshAgents(_ flags: [String]) throws -> ([String: String], [SSHKeyAgent]) {
    var agents: [String: String] = [:]
    var started: [SSHKeyAgent] = []
    for flag in flags {
        let kv = flag.split(separator: "=", maxSplits: 1).map(String.init)
        let id = kv[0]
        guard !id.isEmpty else { throw ValidationError("--ssh \(flag): expected ID or ID=SOCKET") }
        guard let path = kv.count == 2 ? kv[1] : ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"], !path.isEmpty else {
            throw ValidationError("--ssh \(id): SSH_AUTH_SOCK is not set; start an agent (eval $(ssh-agent); ssh-add) or give --ssh \(id)=SOCKET")
        }
        var st = stat()
        if stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK {
            agents[id] = path
            continue
        }
        do {
            let keys = try path.split(separator: ",").flatMap { try SSHPrivateKey.load(String($0)) }
            let agent = try SSHKeyAgent(keys: keys)
            TemporaryDirectories.shared.add(agent.directory)  // removed on Ctrl-C
            started.append(agent)
            agents[id] = agent.socketPath
        } catch {
            for a in started { a.stop() }
            throw ValidationError("--ssh \(id): \(error)")
        }
    }
    return (agents, started)
}

/// `--secret` values: files are used in place; environment values are written to private
/// temporary files (removed at the end, and on Ctrl-C).
struct SecretFiles {
    var paths: [String: String] = [:]
    var temporary: [String] = []

    init(_ flags: [String]) throws {
        for flag in flags {
            var fields: [String: String] = [:]
            for part in flag.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw ValidationError("--secret \(flag): expected id=ID,src=FILE or id=ID,env=VARIABLE") }
                fields[kv[0]] = kv[1]
            }
            guard let id = fields["id"], !id.isEmpty else { throw ValidationError("--secret \(flag): id= is required") }
            if let src = fields["src"] ?? fields["source"] {
                guard access(src, R_OK) == 0 else { throw ValidationError("--secret \(id): cannot read \(src)") }
                paths[id] = src
            } else {
                let variable = fields["env"] ?? id
                guard let value = ProcessInfo.processInfo.environment[variable] else {
                    throw ValidationError("--secret \(id): environment variable \(variable) is not set")
                }
                var template = Array("/tmp/gvmc-secret-XXXXXX".utf8CString)
                let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                guard fd >= 0 else { throw ValidationError("--secret \(id): cannot create a temporary file") }
                let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
                TemporaryFiles.shared.register(path)
                _ = Array(value.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                temporary.append(path)
                paths[id] = path
            }
        }
    }

    func remove() {
        for p in temporary { unlink(p); TemporaryFiles.shared.unregister(p) }
    }
}

/// Base images of a build: pulled once per reference (during planning, which needs their
/// configuration), unpacked on demand by the executor.
final class BaseImages {
    /// `--platform`: the images of stages without FROM --platform.
    let platform: String
    let makePuller: (String) throws -> ImagePuller
    /// Made on first use: a build from scratch needs no credentials and no cache directory.
    var pullers: [String: Result<ImagePuller, Error>] = [:]
    var pulled: [String: PulledImage] = [:]
    var flattened: [String: FlattenedImage] = [:]
    var failure: (String, String)?

    init(platform: String, _ makePuller: @escaping (String) throws -> ImagePuller) {
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
    func normalized(_ p: String) throws -> String? {
        let wanted = try Platform(p.lowercased())
        let target = try Platform(platform.lowercased())
        return wanted.os == target.os && wanted.architecture == target.architecture && (wanted.variant == nil || wanted.variant == target.variant) ? nil : wanted.description
    }

    func pull(_ ref: String, platform: String?) throws -> PulledImage {
        let key = (platform ?? self.platform) + " " + ref
        if let p = pulled[key] { return p }
        let image = try puller(platform).pull(try ImageSource(ref))
        for w in image.warnings { printError("warning: \(w)") }
        pulled[key] = image
        return image
    }

    /// The planner's view of a base image; a failure is kept and reported with the FROM's position.
    func config(for ref: String, platform: String?) -> ImageConfig? {
        do {
            return ImageConfig(try containerConfig(of: try pull(ref, platform: platform)))
        } catch {
            if failure == nil { failure = (ref, "\(error)") }
            return nil
        }
    }

    /// Unpacks the image; its layers' headers are read (and digests checked) once per build.
    func extract(_ ref: String, platform: String?, to root: String) throws {
        let key = (platform ?? self.platform) + " " + ref
        if flattened[key] == nil {
            let image = try pull(ref, platform: platform)
            flattened[key] = try FlattenedImage(layers: image.layers.map { LayerFile(path: $0.path, digest: $0.digest) })
        }
        try flattened[key]!.extract(to: root)
    }

    /// The image's root filesystem unpacked once into the cache (`rootfs/<image id>`), shared by
    /// every build as a read-only overlay layer. The image id (config digest) names the layers'
    /// uncompressed digests, so equal ids mean equal trees. A per-image lock makes concurrent
    /// builds wait for one unpacking; the tree appears by rename only when complete.
    func tree(_ ref: String, platform: String?) throws -> String {
        let image = try pull(ref, platform: platform)
        let cache = try puller(platform).cache
        let id = String(image.configDigest.dropFirst("sha256:".count))
        let trees = cache.directory + "/rootfs" + (UserNamespace.idMappingKey.map { "-" + $0 } ?? "")
        let final = trees + "/" + id
        if let notice = try PrivateDirectory.make(trees) { printError("warning: " + notice) }
        if access(final, F_OK) == 0 {
            CacheUse.touch(final)
            return final
        }
        return try cache.withLock("rootfs-" + id) {
            if access(final, F_OK) == 0 { return final }
            // Under the lock no other process is unpacking this image: partial trees are
            // leftovers of a killed gvmc.
            for name in (try? FileManager.default.contentsOfDirectory(atPath: trees)) ?? [] where name.hasPrefix(id + ".partial-") {
                TreeCopy.remove(trees + "/" + name)
            }
            let temp = final + ".partial-\(getpid())"
            guard mkdir(temp, 0o755) == 0 else { throw RegistryError("cache: cannot create \(temp): \(String(cString: strerror(errno)))") }
            TemporaryDirectories.shared.add(temp)
            defer { TemporaryDirectories.shared.remove(temp) }
            do {
                try extract(ref, platform: platform, to: temp)
                guard rename(temp, final) == 0 else { throw RegistryError("cache: rename \(temp): \(String(cString: strerror(errno)))") }
                CacheUse.stored(final)
            } catch {
                TreeCopy.remove(temp)
                throw error
            }
            return final
        }
    }
}

extension ImageConfig {
    /// A base image's configuration as the planner inherits it.
    init(_ c: ContainerConfig) {
        self.init()
        for item in c.env ?? [] {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            setEnv(String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
        }
        workingDir = c.workingDir.flatMap { $0.isEmpty ? nil : $0 }
        user = c.user.flatMap { $0.isEmpty ? nil : $0 }
        volumes = c.volumes ?? []
        cmd = c.cmd
        entrypoint = c.entrypoint
        labels = c.labels ?? [:]
        exposedPorts = c.exposedPorts ?? []
        stopSignal = c.stopSignal
        shell = c.shell
        onBuild = c.onBuild ?? []
        if let h = c.healthcheck {
            healthcheck = HealthcheckConfig(test: h.test, interval: h.interval ?? 0, timeout: h.timeout ?? 0,
                                            startPeriod: h.startPeriod ?? 0, startInterval: h.startInterval ?? 0, retries: h.retries ?? 0)
        }
    }
}
