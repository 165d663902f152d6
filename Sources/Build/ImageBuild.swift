// A Dockerfile to a .gvmi, as a library: parse and plan (base images pulled for their
// configuration), run the steps (Executor, Sandbox), write the image with Golem's boot files.
// `gvmc build` maps its options onto a BuildRequest and prints what this reports.
import BuildCache
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Foundation
import GVMI
import HTTPTransport
import ImageSpec
import Lint
import Progress
import Registry
import RemoteCache
import Executor
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Why a build failed: a bad request, the Dockerfile or a base image, a step, the image write
/// or `--cache-to`.
public enum BuildError: Error, CustomStringConvertible {
    /// A request that cannot be carried out (an option's value); nothing was done.
    case options(String)
    /// The Dockerfile, its plan or a base image; the message starts with FILE:LINE:COLUMN where
    /// there is one.
    case definition(String)
    /// A step failed while building.
    case step(ExecutorError)
    /// The image could not be written.
    case image(any Error)
    /// The image was written, but `--cache-to` failed (without ignore-error=true).
    case cacheExport(String)

    public var description: String {
        switch self {
        case .options(let m), .definition(let m), .cacheExport(let m): return m
        case .step(let e): return "\(e)"
        case .image(let e): return "\(e)"
        }
    }
}

/// What to build and how.
public struct BuildRequest {
    public var dockerfile: [UInt8]
    /// The Dockerfile's name in messages (`Dockerfile`, `<stdin>`).
    public var dockerfileName: String
    public var contextDirectory: String
    /// Target stage, build arguments, platforms.
    public var options: BuildOptions
    /// `--platform`: the images of stages without FROM --platform.
    public var platform: String
    /// RUN's network when a step names none: default (the host's) or none.
    public var network = "default"
    public var entitlements: Set<Entitlement> = []
    /// Secret id → file (see SecretFiles).
    public var secrets: [String: String] = [:]
    /// SSH id → agent socket (see SSHAgents).
    public var sshAgents: [String: String] = [:]
    public var cacheDirectory: String
    public var useStepCache = true
    public var squashFS: SquashFSOptions
    public var outputPath: String
    /// The output's final path from its SHA3-224 (`-t` names files after the image hash, as
    /// gvmkit-build after the image id); `outputPath` when nil.
    public var outputNaming: ((String) -> String)?
    /// With it, the image writer's final read of the file also gives the Golem registry
    /// descriptor's chunk hashes for chunks of this size (file size → chunk size).
    public var chunkSize: ((UInt64) -> UInt64)?
    /// `--cache-from`: shared step caches asked, in order, for steps this machine's cache lacks.
    public var cacheFrom: [CacheSpec] = []
    /// `--cache-to`: where the build's step layers are exported after the image is written.
    public var cacheTo: [CacheSpec] = []
    /// Credentials and TLS for registry caches (as for pulls).
    public var registryOptions = RegistryOptions()

    public init(
        dockerfile: [UInt8], dockerfileName: String, contextDirectory: String, options: BuildOptions,
        platform: String, cacheDirectory: String, squashFS: SquashFSOptions, outputPath: String
    ) {
        self.dockerfile = dockerfile
        self.dockerfileName = dockerfileName
        self.contextDirectory = contextDirectory
        self.options = options
        self.platform = platform
        self.cacheDirectory = cacheDirectory
        self.squashFS = squashFS
        self.outputPath = outputPath
    }
}

/// One build of a BuildRequest: plans it, runs the steps and writes the .gvmi (`run`).
public final class ImageBuild {
    public let request: BuildRequest
    /// Warnings and Golem findings, as complete lines ("warning: ...", "Dockerfile:3:1: warning: ...").
    public var diagnostic: (String) -> Void = { _ in }
    let bases: BaseImages
    var executor: BuildExecutor?
    /// `--cache-from`'s stores, when given.
    var importer: SharedCacheImport?
    /// The configuration written to the image's trailer (after `run`).
    public private(set) var containerConfig: ContainerConfig?

    /// `puller` makes the registry client for a platform (on first use: a build FROM scratch needs
    /// no credentials and no blob cache).
    public init(_ request: BuildRequest, puller: @escaping (String) throws -> ImagePuller) {
        self.request = request
        bases = BaseImages(platform: request.platform, puller)
        bases.warn = { [unowned self] in self.diagnostic("warning: " + $0) }
    }

    /// Where the steps are reported (BuildKit's vertices); nil: nothing is reported and RUN
    /// output goes to standard output and error. A base image unpacked (into the cache, or a
    /// root) is a transfer of the current step: a bar in tty, `unpacking 12.3MB / 12.3MB 0.8s
    /// done` in plain.
    public var progress: BuildProgress? {
        didSet {
            guard let progress else { bases.unpacking = nil; return }
            bases.unpacking = { progress.transfer("unpacking", current: $0, total: $1) }
            bases.unpacked = { progress.transferDone("unpacking") }
        }
    }

    /// Plans, runs every step and writes the image (to a temporary file renamed at the end).
    public func run() throws(BuildError) -> GVMIResult {
        let name = request.dockerfileName
        let ignoreText = (try? String(contentsOfFile: request.contextDirectory + "/.dockerignore", encoding: .utf8)) ?? ""
        progress?.start("[internal] load build definition from \((name as NSString).lastPathComponent)")
        progress?.status("transferring dockerfile: \(request.dockerfile.count)B done")
        progress?.done()
        progress?.start("[internal] load .dockerignore")
        progress?.status("transferring context: \(ignoreText.utf8.count)B done")
        progress?.done()
        let plan = try makePlan(ignoreText: ignoreText)
        if let progress {
            let steps = plan.stages.reduce(0) { n, stage in
                if case .image = stage.base { return n + stage.steps.count + 1 }
                return n + stage.steps.count
            }
            progress.expectedTotal = progress.records.count + steps + 1
        }
        let executor: BuildExecutor
        do {
            executor = try BuildExecutor(
                plan: plan, context: BuildContext(directory: request.contextDirectory, ignore: DockerIgnore(text: ignoreText)))
        } catch {
            throw .step(error)
        }
        self.executor = executor
        configure(executor)
        if !request.cacheFrom.isEmpty && request.useStepCache {
            importer = makeImporter()
            executor.sharedCache = importer
        }
        let rootfs: String
        do { rootfs = try executor.run() } catch { throw .step(error) }
        let containerConfig: ContainerConfig
        do { containerConfig = try ContainerConfig(plan.targetStage.config, rootfs: rootfs) } catch {
            throw .definition("\(name): \(error)")
        }
        self.containerConfig = containerConfig
        // The executor owns the root filesystem (its directory and overlay mounts) until packed.
        progress?.start("writing image \(request.outputPath)")
        let result: GVMIResult
        do {
            let layout = CacheLayout(request.cacheDirectory)
            // Like the block store (`--no-block-store` turns both off).
            let store =
                request.squashFS.blockStore == nil
                ? nil
                : executor.targetTreeKey.map {
                    ImageStoreEntry(
                        store: layout.images(idMapping: UserNamespace.idMappingKey), treeKey: $0 + (geteuid() == 0 ? "" : " unprivileged"),
                        options: request.squashFS, reads: request.useStepCache)
                }
            result = try withExtendedLifetime(executor) {
                try GVMIImageWriter.write(
                    to: request.outputPath, options: request.squashFS, config: containerConfig,
                    chunkSize: request.chunkSize, imageStore: store, hashes: ImageHashStore(directory: layout.hashes),
                    naming: request.outputNaming
                ) { [progress] writer in
                    if let progress {
                        // The bar's total: the tree's file bytes (each hard-linked file once).
                        let total = Int64(clamping: fileBytes(rootfs))
                        writer.onData = {
                            progress.transfer("squashfs", current: Int64(clamping: $0), total: max(total, Int64(clamping: $0)))
                        }
                    }
                    var reader = DirectoryTreeReader(rootPath: rootfs)
                    reader.ownerRecords = true
                    if geteuid() != 0 { reader.unrecordedOwner = (0, 0) }
                    writer.laterFileSizes = BootFiles.fileSizes
                    try reader.add(to: writer)
                    try BootFiles.add(to: writer)
                }
            }
            let sq = result.squashfs
            if let store {
                if result.reusedSquashFS {
                    CacheUse.touch(store.directory)
                    progress?.status(
                        "squashfs of the same tree from the image store (\((store.directory as NSString).lastPathComponent.prefix(12))) done"
                    )
                } else if access(store.directory, F_OK) == 0 {
                    // No size in the marker: the entry costs nothing while the image it links to
                    // exists, and pruning looks each time (CachePrune.candidates).
                    CacheUse.touch(store.directory)
                }
            }
            progress?.status("squashfs \(result.compression.rawValue): \(sq.inodes) inodes, \(result.size) bytes done")
            progress?.status("sha3-224 \(result.sha3_224) done")
            progress?.done()
        } catch {
            progress?.failed("\(error)")
            throw .image(error)
        }
        try exportCache(plan, executor)
        return result
    }

    /// Bytes of the regular files under `root` (hard links counted once), without following
    /// symlinks.
    func fileBytes(_ root: String) -> UInt64 {
        var total: UInt64 = 0
        var seen = Set<[UInt64]>()
        func walk(_ path: String) {
            guard let dir = opendir(path) else { return }
            defer { closedir(dir) }
            while let e = readdir(dir) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
                if name == "." || name == ".." { continue }
                let child = path + "/" + name
                var st = stat()
                guard lstat(child, &st) == 0 else { continue }
                switch st.st_mode & S_IFMT {
                case S_IFDIR: walk(child)
                case S_IFREG:
                    if st.st_nlink > 1 && !seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted { continue }
                    total += UInt64(st.st_size)
                default: break
                }
            }
        }
        walk(root)
        return total
    }

    /// The `--cache-from` stores (one that cannot be opened is a warning and left out).
    func makeImporter() -> SharedCacheImport {
        var stores: [CacheStore] = []
        for spec in request.cacheFrom {
            do { stores.append(try makeCacheStore(spec, options: request.registryOptions)) } catch {
                diagnostic("warning: --cache-from: \(error); that cache is not used")
            }
        }
        let importer = SharedCacheImport(stores: stores)
        importer.warn = { [diagnostic] in diagnostic("warning: " + $0) }
        importer.userXattrs = UserNamespace.current != nil
        return importer
    }

    /// `--cache-to`: the layers of the stages that make the final image (mode=min: the target and
    /// the stages it is built FROM) or of every stage (mode=max), to each destination.
    func exportCache(_ plan: BuildPlan, _ executor: BuildExecutor) throws(BuildError) {
        guard !request.cacheTo.isEmpty else { return }
        var finalStages: Set<Int> = []
        var next: Int? = plan.target
        while let i = next, finalStages.insert(i).inserted {
            if case .stage(let parent) = plan.stages.first(where: { $0.index == i })?.base { next = parent } else { next = nil }
        }
        for spec in request.cacheTo {
            progress?.start("exporting cache to \(spec.label)")
            do throws(CacheError) {
                guard let scratch = executor.scratchDirectory() else {
                    throw CacheError(
                        "this build has no step layers to export (the step cache needs overlay mounts: a build as root or in a user namespace)"
                    )
                }
                let layers = executor.layerRecords.filter { spec.mode == .max || finalStages.contains($0.stage) }
                    .map { SharedCacheExport.Layer(key: $0.key, stage: $0.stage, path: $0.path) }
                let store = try makeCacheStore(spec, options: request.registryOptions)
                let summary = try SharedCacheExport.export(
                    layers, to: store, compression: spec.compression, scratch: scratch,
                    userXattrs: UserNamespace.current != nil, replace: importer?.failedKeys ?? [],
                    status: { [progress] in progress?.status($0) },
                    warn: { [diagnostic] in diagnostic("warning: --cache-to \(spec.label): " + $0) })
                progress?.status(
                    "\(summary.written) layers written (\(summary.bytesWritten) bytes), \(summary.reused) already there, \(summary.records) records done"
                )
                progress?.done()
            } catch {
                progress?.failed(error.message)
                guard spec.ignoreError else { throw .cacheExport("--cache-to \(spec.label): \(error.message)") }
                diagnostic("warning: --cache-to \(spec.label): \(error.message)")
            }
        }
    }

    /// Removes the build's working roots (the image is written; its cache entries stay).
    public func finish() { executor?.finish() }

    /// Parse, plan (base images pulled for their configuration), entitlements, Golem warnings.
    func makePlan(ignoreText: String) throws(BuildError) -> BuildPlan {
        let name = request.dockerfileName
        let bases = self.bases
        var plan: BuildPlan
        do {
            let parsed = try DockerfileParser.parse(bytes: request.dockerfile, path: name)
            let staged = try StagedDockerfile.parse(parsed)
            // A stage's FROM --platform picks the image for that platform (the cross-compiling
            // `FROM --platform=$BUILDPLATFORM`); the same platform as --platform is no platform.
            var loaded: Set<String> = []
            let progress = self.progress
            plan = try BuildPlanner.plan(staged, options: request.options) { ref, p in
                let platform = p.flatMap { try? bases.normalized($0) }
                guard loaded.insert((platform ?? "") + " " + ref).inserted, let progress else {
                    return bases.config(for: ref, platform: platform)
                }
                progress.start("[internal] load metadata for \(ref)")
                let config = bases.config(for: ref, platform: platform)
                if config != nil { progress.done() } else { progress.failed(bases.failure?.1 ?? "cannot pull \(ref)") }
                return config
            }
        } catch {
            throw .definition("\(error)")
        }
        for i in plan.stages.indices {
            guard let p = plan.stages[i].platform else { continue }
            do { plan.stages[i].platform = try bases.normalized(p) } catch {
                throw .definition("\(name):\(plan.stages[i].fromPosition): FROM --platform=\(p): \(error)")
            }
        }
        do { try plan.checkEntitlements(request.entitlements, file: name) } catch {
            throw .definition("\(error)")
        }
        if let (ref, failure) = bases.failure {
            let at = plan.stages.first { $0.base == .image(ref) }.map { "\(name):\($0.fromPosition): " } ?? "\(name): "
            throw .definition("\(at)FROM \(ref): \(failure)")
        }
        // Golem warnings with file:line (lint's rules, as the build sees the Dockerfile).
        var lintOptions = LintOptions()
        lintOptions.dockerIgnore = DockerIgnore(text: ignoreText)
        for f in DockerfileLinter.lint(bytes: request.dockerfile, path: name, options: lintOptions)
        where f.rule.hasPrefix("GVM") && f.severity != .info {
            diagnostic("\(f.file):\(f.line):\(f.column): \(f.severity.rawValue): \(f.message) [\(f.rule)]")
        }
        return plan
    }

    func configure(_ executor: BuildExecutor) {
        executor.file = request.dockerfileName
        executor.events = progress.map { StepProgress($0) }
        executor.warn = { [diagnostic] in diagnostic("warning: " + $0) }
        executor.images = bases
        executor.targetPlatform = request.platform
        executor.urlFetcher = HTTPURLFetcher()
        executor.gitRemote = GitFetchRemote()
        let layout = CacheLayout(request.cacheDirectory)
        var sandbox = SandboxSettings()
        sandbox.defaultNetwork = request.network
        sandbox.runCacheDirectory = layout.runCache
        sandbox.secrets = request.secrets
        sandbox.sshAgents = request.sshAgents
        executor.sandbox = sandbox
        executor.stepCacheDirectory = layout.steps(idMapping: UserNamespace.idMappingKey)
        executor.useStepCache = request.useStepCache
    }
}

/// BuildKit's automatic garbage collection after a build (CachePrune.collect): old cache mounts
/// and entries, then past `GVMC_CACHE_KEEP_STORAGE` (default 10% of the cache's filesystem; "off"
/// disables it all) the least recently used, unless other builds are running.
public enum CacheCollection {
    /// Collects and returns what to tell the user, one line each.
    public static func collect(_ cache: String, setting: String?) -> [String] {
        var keep = CachePrune.defaultKeepBytes(cache)
        if let setting, !setting.isEmpty {
            if setting == "off" { return [] }
            guard let bytes = StorageSize.parse(setting) else {
                return ["warning: GVMC_CACHE_KEEP_STORAGE=\(setting) is not a size; the cache was not collected"]
            }
            keep = bytes
        }
        return CachePrune.collect(cache, keepBytes: keep).map { reason, removed in
            let total = removed.reduce(Int64(0)) { $0 + $1.bytes }
            let what = "\(removed.count) \(removed.count == 1 ? "entry" : "entries") (\(StorageSize.format(total)))"
            return reason.hasPrefix("least recently used")
                ? "cache: removed \(what), \(reason), to keep \(cache) under \(StorageSize.format(keep)) (GVMC_CACHE_KEEP_STORAGE)"
                : "cache: removed \(what): \(reason)"
        }
    }
}

extension SharedCacheImport: SharedStepCache {}

/// The executor's step events as progress vertices.
final class StepProgress: StepEvents {
    let progress: BuildProgress
    init(_ progress: BuildProgress) { self.progress = progress }
    func stepStarted(_ name: String) { progress.start(name) }
    func stepCached(key: String, from: String?) { progress.cached(key: key, from: from) }
    func stepDone(key: String?) { progress.done(key: key) }
    func stepFailed(_ message: String) { progress.failed(message) }
    func stepOutput(_ bytes: UnsafeRawBufferPointer, stream: Int32) { progress.output(bytes, stream: stream) }
}
