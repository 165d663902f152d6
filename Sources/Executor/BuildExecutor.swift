// Carries out a BuildPlan: a working root filesystem per stage (in a temporary directory, or an
// overlay of step cache layers), FROM <image> and FROM <stage>, and each step as its operation
// (StepOperation: COPY, ADD of git or URLs, RUN, WORKDIR), its result taken from the step cache
// when its key is there. The target's root filesystem comes out; the caller packs it.
import BuildCache
import BuildPlan
import DockerfileSyntax
import CSystem
import Layers
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Builds the stages of a plan, one step operation after another, on the step cache's layers.
public final class BuildExecutor {
    let plan: BuildPlan
    /// What the step operations share (the build context, stage roots, sources, settings).
    let context: ExecutionContext
    /// The flock that marks the work directory as this process's (see BuildDirectories).
    var ownerLock: Int32
    public var file: String = "Dockerfile"
    /// `gvmc build --platform`: what stages without FROM --platform are for.
    public var targetPlatform = Sandbox.hostPlatform
    var stagePlatforms: [Int: String] = [:]
    /// Overlay mounts made for stages, unmounted (lazily) before the work directory goes.
    var mounts: [String] = []
    /// The step cache (see StepCache.swift); nil turns it off.
    public var stepCacheDirectory: String?
    /// False (`--no-cache`): every step runs; results not in the cache yet are stored.
    public var useStepCache = true
    /// This build's upper and work directories inside the step cache.
    var layerDirectory: String?
    var layerCount = 0
    /// Caches shared between machines (`--cache-from`), asked when this machine's has no layer
    /// for a key.
    public var sharedCache: SharedStepCache?
    /// Every layer this build used or made, in order (what `--cache-to` exports). The paths are
    /// valid until `finish`.
    public internal(set) var layerRecords: [StepLayer] = []
    /// Base images' shared trees this build stacked.
    var imageTrees: Set<String> = []

    public init(plan: BuildPlan, context: BuildContext) throws(ExecutorError) {
        self.plan = plan
        let (workDirectory, lock) = try BuildDirectories.create()
        ownerLock = lock
        self.context = ExecutionContext(buildContext: context, workDirectory: workDirectory)
    }

    deinit { finish() }

    /// Unmounts the stages and removes the build's directories (the root filesystem is gone
    /// afterwards). Called by deinit; explicitly before the cache is pruned.
    public func finish() {
        TemporaryDirectories.shared.release(mounts: mounts, directory: context.workDirectory)
        mounts = []
        if ownerLock >= 0 { close(ownerLock); ownerLock = -1 }
        if let layerDirectory {
            TreeRemoval.remove(layerDirectory)
            TemporaryDirectories.shared.remove(layerDirectory)
        }
        layerDirectory = nil
    }

    /// After `run`: what names the content of the target stage's root filesystem (the image
    /// store's key): the step cache key of its layers and the identity (device, inode, change
    /// time) of each layer directory, so that a layer made again under the same key (after a
    /// prune, by --no-cache, imported from a shared cache) is another tree. Nil when a step could
    /// not be cached or a layer is this build's private one.
    public var targetTreeKey: String? {
        guard let l = context.stageLayers[plan.target], let key = l.key, let cache = stepCacheDirectory else { return nil }
        var identity = "tree " + key
        for lower in l.lowers {
            if let dir = layerDirectory, lower == dir + "/empty" { identity += "\0empty"; continue }
            let inCache = lower.hasPrefix(cache + "/") && !lower.dropFirst(cache.count + 1).contains("/")
            guard inCache || imageTrees.contains(lower) else { return nil }
            var st = stat()
            guard lstat(lower, &st) == 0 else { return nil }
            identity += "\0\(lower.split(separator: "/").last ?? "") \(st.st_dev) \(st.st_ino) \(st.st_ctim.tv_sec).\(st.st_ctim.tv_nsec)"
        }
        return SHA256.hash(Array(identity.utf8)).hexString
    }

    /// Runs every stage; returns the target stage's root filesystem directory.
    public func run() throws(ExecutorError) -> String {
        for stage in plan.stages {
            let root = context.workDirectory + "/stage-\(stage.index)"
            if case .stage(let parent) = stage.base, stage.platform == nil {
                context.stagePlatform = stagePlatforms[parent] ?? targetPlatform
            } else {
                context.stagePlatform = stage.platform ?? targetPlatform
            }
            stagePlatforms[stage.index] = context.stagePlatform
            let layers = try start(stage, at: root)
            context.stageRoots[stage.index] = root
            for (n, step) in stage.steps.enumerated() {
                let title = stepName(stage, n)
                do {
                    try execute(step.operation, title: title, stage: stage.index, in: root, on: layers)
                } catch {
                    events?.stepFailed(error.message)
                    var located = error
                    located.location = SourceLocation(file: file, position: step.node.position)
                    throw located
                }
            }
            context.stageLayers[stage.index] = layers
        }
        return context.stageRoots[plan.target]!
    }

    /// The stage's root filesystem before its steps: FROM scratch, a copy (or the layers) of
    /// its parent stage, or an image's tree. Its layers when it is built on the step cache.
    func start(_ stage: PlannedStage, at root: String) throws(ExecutorError) -> StageLayers? {
        switch stage.base {
        case .scratch:
            let layers = try startLayers(root, lowers: nil, key: "scratch")
            if layers == nil { guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) } }
            return layers
        case .stage(let parent):
            // A cached parent's layers are shared; otherwise its tree is copied.
            if let p = context.stageLayers[parent], let key = p.key,
                let layers = try startLayers(root, lowers: p.lowers, key: "stage " + key)
            {
                return layers
            }
            try TreeCopy.copy(context.stageRoots[parent]!, to: root)
            return nil
        case .image(let ref):
            if let name = fromStepName(stage) { events?.stepStarted(name) }
            do {
                var layers: StageLayers?
                if stepCacheDirectory != nil, getuid() == 0, let images = context.images {
                    let tree = try images.tree(ref, platform: stage.platform)
                    imageTrees.insert(tree)
                    layers = try startLayers(
                        root, lowers: [tree], key: "image " + (tree.split(separator: "/").last.map(String.init) ?? tree))
                }
                if layers == nil {
                    guard mkdir(root, 0o755) == 0 else { throw ExecutorError.errno("mkdir", root) }
                    if !(try mountImage(ref, platform: stage.platform, at: root)) {
                        guard let images = context.images else { throw ExecutorError("no image source configured for \(ref)") }
                        try images.extract(ref, platform: stage.platform, to: root)
                    }
                }
                events?.stepDone(key: nil)
                return layers
            } catch {
                events?.stepFailed("\(error)")
                throw ExecutorError(
                    .wrapped(context: "FROM \(ref)", cause: error), at: SourceLocation(file: file, position: stage.fromPosition))
            }
        }
    }

    /// One step: from the step cache when its key is there (its layer stacked on the stage),
    /// else carried out, its result stored under its key. Without layers (or after a step that
    /// could not be cached) it just runs.
    func execute(_ operation: any StepOperation, title: String, stage: Int, in root: String, on layers: StageLayers?) throws(ExecutorError)
    {
        guard let l = layers, let previous = l.key else {
            events?.stepStarted(title)
            try operation.execute(in: root, context: context)
            events?.stepDone(key: nil)
            return
        }
        if let files = operation as? any FileOperation, files.copy.link,
            try copyLinked(files, title: title, stage: stage, onto: l, after: previous)
        {
            return
        }
        let key = try operation.cacheKey(after: previous, in: context)
        if let key, useStepCache, let (cached, origin) = cachedLayer(key), try stack(l, cached, key: key) {
            events?.stepStarted(title)
            events?.stepCached(key: key, from: origin)
            layerRecords.append(StepLayer(stage: stage, key: key, path: cached))
            return
        }
        events?.stepStarted(title)
        try operation.execute(in: root, context: context)
        if let key { try freeze(l, key: key, stage: stage) } else { l.key = nil }
        events?.stepDone(key: key)
    }

    /// FROM <image> as root: an overlay mount with the shared unpacked image as its read-only
    /// lower layer and a fresh upper directory for this build's changes. False when there is no
    /// image source, gvmc is not root, or the kernel refuses the mount (then the caller unpacks).
    func mountImage(_ ref: String, platform: String?, at root: String) throws -> Bool {
        guard getuid() == 0, let images = context.images else { return false }
        let lower = try images.tree(ref, platform: platform)
        let upper = root + ".upper", work = root + ".work"
        guard mkdir(upper, 0o755) == 0 else { throw ExecutorError.errno("mkdir", upper) }
        guard mkdir(work, 0o700) == 0 else { throw ExecutorError.errno("mkdir", work) }
        guard mountLayers(StageLayers(root: root, lowers: [lower], upper: upper, work: work, key: nil)) else {
            rmdir(upper); rmdir(work)
            return false
        }
        return true
    }
}

// What the caller gives the build, kept where the step operations read it.
extension BuildExecutor {
    /// What happens to each step (started, cached, done, failed, its output), for progress
    /// displays; nil: the steps' output goes to gvmc's standard output and error.
    public var events: (any StepEvents)? {
        get { context.events }
        set { context.events = newValue }
    }
    /// Warnings, shown even when progress is not (default: standard error).
    public var warn: (String) -> Void {
        get { context.warn }
        set { context.warn = newValue }
    }
    /// FROM <image>, COPY --from=<image> and RUN --mount from=<image>; nil: images are refused.
    public var images: (any BaseImageSource)? {
        get { context.images }
        set { context.images = newValue }
    }
    /// ADD <git repository URL>; nil: git sources are refused.
    public var gitRemote: (any GitRemote)? {
        get { context.git }
        set { context.git = newValue }
    }
    /// ADD <url>; nil: URLs are refused.
    public var urlFetcher: (any URLFetcher)? {
        get { context.urlFetcher }
        set { context.urlFetcher = newValue }
    }
    /// The network, secrets, SSH agents and cache mount directory of RUN steps.
    public var sandbox: SandboxSettings {
        get { context.sandbox }
        set { context.sandbox = newValue }
    }
}
