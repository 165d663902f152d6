// Carries out a BuildPlan: a working root filesystem per stage (in a temporary directory),
// FROM <stage> copies, WORKDIR directories, COPY from the context or another stage, RUN in the
// sandbox. The target's root filesystem and configuration come out; the caller packs them.
import BuildPlan
import CSystem
import Layers
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

public struct BuildContext: Sendable {
    public var directory: String
    public var ignore: DockerIgnore
    public init(directory: String, ignore: DockerIgnore) { self.directory = directory; self.ignore = ignore }
}

public final class BuildExecutor {
    let plan: BuildPlan
    let context: BuildContext
    let workDirectory: String
    /// The flock that marks the work directory as this process's (see BuildDirectories).
    var ownerLock: Int32
    var stageRoots: [Int: String] = [:]
    /// What happens to each step (started, cached, done, failed, its output), for progress
    /// displays; nil: the steps' output goes to gvmc's standard output and error.
    public var events: StepEvents?
    /// Warnings, shown even when progress is not (default: standard error).
    public var warn: (String) -> Void = { message in
        let line = Array(("warning: " + message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }
    public var file: String = "Dockerfile"
    /// Unpacks image `ref` for a platform (nil: the build's target) into the (existing, empty)
    /// directory: FROM <image>, COPY --from=<image>.
    public var imageProvider: (_ ref: String, _ platform: String?, _ root: String) throws -> Void = { ref, _, _ in
        throw RootFSError("no image source configured for \(ref)")
    }
    var imageRoots: [String: String] = [:]
    /// The image's root filesystem, unpacked once and shared between builds (read-only); nil
    /// when the caller has none. As root, a FROM <image> stage is then an overlay mount over it
    /// (nothing is unpacked or copied per build) and COPY --from=<image> reads it directly.
    public var imageTree: ((_ ref: String, _ platform: String?) throws -> String)?
    /// `gvmc build --platform`: what stages without FROM --platform are for.
    public var targetPlatform = Sandbox.hostPlatform
    /// The platform of the stage being built (FROM <stage> inherits its parent's).
    var stagePlatform = Sandbox.hostPlatform
    var stagePlatforms: [Int: String] = [:]
    /// Overlay mounts made for stages, unmounted (lazily) before the work directory goes.
    var mounts: [String] = []
    /// ADD <git repository URL>: checks out the object `id` (what gitResolver returned) into the
    /// (existing) directory, with the `.git` directory when asked; returns the commit id and
    /// time. Nil: git sources are refused.
    /// `access`: credentials from the build's secrets and SSH agents (gitAccess).
    public var gitFetcher: ((_ url: String, _ id: String, _ directory: String, _ keepGitDir: Bool,
                             _ access: GitAccess) throws -> (commit: String, time: Int64))?
    /// The object id a git URL's branch, tag or commit names now (`git ls-remote`); the step is
    /// keyed on it, so an unchanged branch is not fetched again.
    public var gitResolver: ((_ url: String, _ access: GitAccess) throws -> String)?
    /// What gitResolver said about each URL in this build (one answer per build, used for the
    /// key and the checkout alike).
    var gitIDs: [String: String] = [:]
    /// Whether an ADD source is a git repository: the plan's rule.
    let isGitSource = CopyStep.isGitSource
    /// Downloads `url` into the given file; returns its Last-Modified time when known (ADD <url>).
    public var urlFetcher: (String, Int32) throws -> Int64? = { url, _ in
        throw RootFSError("no downloader configured for \(url)")
    }
    /// `--secret id=ID,src=FILE` (or env=VAR): id → the host file holding the secret.
    public var secrets: [String: String] = [:]
    /// `gvmc build --network`: "none" gives every RUN step an empty network namespace unless the
    /// step asks for another network itself.
    public var defaultNetwork = "default"
    /// `gvmc build --ssh ID=SOCKET`: id → the host's SSH agent socket.
    public var sshAgents: [String: String] = [:]
    /// Agent relays of the running step, stopped after it.
    var relays: [UnsafeMutableRawPointer] = []
    /// Cache-mount locks (sharing=locked|private) the running step holds.
    var heldLocks: [Int32] = []
    /// Where `RUN --mount=type=cache` directories persist between builds.
    public var runCacheDirectory: String?
    /// The step cache (see StepCache.swift); nil turns it off.
    public var stepCacheDirectory: String?
    /// False (`--no-cache`): every step runs; results not in the cache yet are stored.
    public var useStepCache = true
    /// This build's upper and work directories inside the step cache.
    var layerDirectory: String?
    var layerCount = 0
    /// Stages mounted as layers, by index.
    var layered: [Int: StageLayers] = [:]
    /// Caches shared between machines (`--cache-from`), asked when this machine's has no layer
    /// for a key.
    public var sharedCache: SharedStepCache?
    /// Every layer this build used or made, in order (what `--cache-to` exports). The paths are
    /// valid until `finish`.
    public internal(set) var layerRecords: [StepLayer] = []

    /// An image unpacked once per build for COPY --from=<image>.
    func imageRoot(_ ref: String) throws(RootFSError) -> String {
        if let r = imageRoots[ref] { return r }
        if let imageTree {
            do { imageRoots[ref] = try imageTree(ref, nil) } catch { throw RootFSError("COPY --from=\(ref): \(error)") }
            return imageRoots[ref]!
        }
        let root = workDirectory + "/image-\(imageRoots.count)"
        guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) }
        do { try imageProvider(ref, nil, root) } catch { throw RootFSError("COPY --from=\(ref): \(error)") }
        imageRoots[ref] = root
        return root
    }

    public init(plan: BuildPlan, context: BuildContext) throws(RootFSError) {
        self.plan = plan
        self.context = context
        (workDirectory, ownerLock) = try BuildDirectories.create()
    }

    deinit { finish() }

    /// Unmounts the stages and removes the build's directories (the root filesystem is gone
    /// afterwards). Called by deinit; explicitly before the cache is pruned.
    public func finish() {
        TemporaryDirectories.shared.release(mounts: mounts, directory: workDirectory)
        mounts = []
        if ownerLock >= 0 { close(ownerLock); ownerLock = -1 }
        if let layerDirectory {
            TreeCopy.remove(layerDirectory)
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
        guard let l = layered[plan.target], let key = l.key, let cache = stepCacheDirectory else { return nil }
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
    /// Base images' shared trees this build stacked.
    var imageTrees: Set<String> = []

    /// Runs every stage; returns the target stage's root filesystem directory.
    public func run() throws(RootFSError) -> String {
        for stage in plan.stages {
            let root = workDirectory + "/stage-\(stage.index)"
            if case .stage(let parent) = stage.base, stage.platform == nil {
                stagePlatform = stagePlatforms[parent] ?? targetPlatform
            } else {
                stagePlatform = stage.platform ?? targetPlatform
            }
            stagePlatforms[stage.index] = stagePlatform
            var layers: StageLayers?
            switch stage.base {
            case .scratch:
                layers = try startLayers(root, lowers: nil, key: "scratch")
                if layers == nil { guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) } }
            case .stage(let parent):
                // A cached parent's layers are shared; otherwise its tree is copied.
                if let p = layered[parent], let key = p.key { layers = try startLayers(root, lowers: p.lowers, key: "stage " + key) }
                if layers == nil { try TreeCopy.copy(stageRoots[parent]!, to: root) }
            case .image(let ref):
                if let name = fromStepName(stage) { events?.stepStarted(name) }
                do {
                    if stepCacheDirectory != nil, getuid() == 0, let imageTree {
                        let tree = try imageTree(ref, stage.platform)
                        imageTrees.insert(tree)
                        layers = try startLayers(root, lowers: [tree], key: "image " + (tree.split(separator: "/").last.map(String.init) ?? tree))
                    }
                    if layers == nil {
                        guard mkdir(root, 0o755) == 0 else { throw RootFSError.errno("mkdir", root) }
                        if !(try mountImage(ref, platform: stage.platform, at: root)) { try imageProvider(ref, stage.platform, root) }
                    }
                    events?.stepDone(key: nil)
                } catch {
                    events?.stepFailed("\(error)")
                    throw RootFSError("\(file):\(stage.fromPosition): FROM \(ref): \(error)")
                }
            }
            stageRoots[stage.index] = root
            for (n, step) in stage.steps.enumerated() {
                let title = stepName(stage, n)
                do {
                    guard let l = layers, let previous = l.key else {
                        events?.stepStarted(title)
                        try execute(step, in: root)
                        events?.stepDone(key: nil)
                        continue
                    }
                    if case .copy(let c) = step.kind, c.link, try copyLinked(c, step, title: title, stage: stage.index, onto: l, after: previous) { continue }
                    let key = try stepKey(previous, step)
                    if let key, useStepCache, let (cached, origin) = cachedLayer(key), try stack(l, cached, key: key) {
                        events?.stepStarted(title)
                        events?.stepCached(key: key, from: origin)
                        layerRecords.append(StepLayer(stage: stage.index, key: key, path: cached))
                        continue
                    }
                    events?.stepStarted(title)
                    try execute(step, in: root)
                    if let key { try freeze(l, key: key, stage: stage.index) } else { l.key = nil }
                    events?.stepDone(key: key)
                } catch {
                    events?.stepFailed(error.message)
                    throw RootFSError("\(file):\(step.node.position): \(error.message)")
                }
            }
            layered[stage.index] = layers
        }
        return stageRoots[plan.target]!
    }

    func execute(_ step: Step, in root: String) throws(RootFSError) {
        switch step.kind {
        case .makeDirectory(let path, let user):
            let owner = try user.map { u throws(RootFSError) in try UserDatabase(rootfs: root).resolve(u) }
            try makeDirectories(root, path, owner: owner.map { Ownership(uid: $0.uid, gid: $0.gid) })
        case .copy(let c):
            try copy(c, into: root)
        case .run(let r):
            try run(r, in: root)
        }
    }

    /// FROM <image> as root: an overlay mount with the shared unpacked image as its read-only
    /// lower layer and a fresh upper directory for this build's changes. False when there is no
    /// shared tree, gvmc is not root, or the kernel refuses the mount (then the caller unpacks).
    func mountImage(_ ref: String, platform: String?, at root: String) throws -> Bool {
        guard getuid() == 0, let imageTree else { return false }
        let lower = try imageTree(ref, platform)
        let upper = root + ".upper", work = root + ".work"
        guard mkdir(upper, 0o755) == 0 else { throw RootFSError.errno("mkdir", upper) }
        guard mkdir(work, 0o700) == 0 else { throw RootFSError.errno("mkdir", work) }
        guard mountLayers(StageLayers(root: root, lowers: [lower], upper: upper, work: work, key: nil)) else {
            rmdir(upper); rmdir(work)
            return false
        }
        return true
    }

    /// mkdir -p inside the root; symlinks on the way are followed inside it (`scopedPath`).
    func makeDirectories(_ root: String, _ path: String, owner: Ownership?) throws(RootFSError) {
        var current = root
        for component in try scopedPath(root, path).split(separator: "/") {
            current += "/" + component
            var st = stat()
            if lstat(current, &st) == 0 {
                if st.st_mode & S_IFMT == S_IFDIR { continue }
                throw RootFSError("\(path): \(current.dropFirst(root.count)) exists and is not a directory")
            }
            guard mkdir(current, 0o755) == 0 else { throw .errno("mkdir", String(current.dropFirst(root.count))) }
            if let owner { _ = RecordedOwner.set(current, uid: owner.uid, gid: owner.gid) }
        }
    }

    /// `users`: the root whose /etc/passwd and /etc/group resolve --chown names (COPY --link
    /// copies into a layer of its own, the stage's tree being elsewhere).
    func copy(_ c: CopyStep, into root: String, users: String? = nil) throws(RootFSError) {
        if c.isAdd && c.paths.contains(where: isGitSource) {
            try addGit(c, into: root, users: users)
            return
        }
        if c.isAdd && c.paths.contains(where: { $0.contains("://") }) {
            try addURLs(c, into: root, users: users)
            return
        }
        let sourceRoot: String
        switch c.source {
        case .context: sourceRoot = context.directory
        case .stage(let i): sourceRoot = stageRoots[i]!
        case .image(let ref): sourceRoot = try imageRoot(ref)
        }
        let owner = try c.chown.map { spec throws(RootFSError) in
            let r = try UserDatabase(rootfs: users ?? root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        } ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(RootFSError) in try ModeChange(m) }
        if c.parents {
            try copyWithParents(c, from: sourceRoot, into: root, owner: owner, mode: mode)
            return
        }
        // Sources: context paths are clamped to the context; wildcards expand per component.
        var sources: [(path: String, relative: String)] = []
        for p in c.paths {
            let clean = normalize("/" + p)
            let matches = expandWildcards(sourceRoot, String(clean.dropFirst()))
            if matches.isEmpty {
                throw RootFSError("\(c.isAdd ? "ADD" : "COPY") failed: \(p): no such file or directory in the \(c.source == .context ? "build context" : "source stage")")
            }
            for m in matches {
                // An ignored source is left out; an ignored directory is still read when an
                // exception may re-include something inside it.
                if c.source == .context && !m.isEmpty && context.ignore.excludes(m)
                    && !(isDirectory(sourceRoot + "/" + m, follow: false) && context.ignore.mayMatch(below: m, exceptions: true)) { continue }
                sources.append((m.isEmpty ? sourceRoot : sourceRoot + "/" + m, m))
            }
        }
        if sources.isEmpty && c.inlineFiles.isEmpty {
            throw RootFSError("\(c.isAdd ? "ADD" : "COPY") failed: every source (\(c.paths.joined(separator: " "))) is excluded by .dockerignore")
        }
        let destination = try scopedPath(root, normalize(c.destination))
        let destIsDirectory = c.destination.hasSuffix("/") || sources.count + c.inlineFiles.count > 1
            || isDirectory(root + destination)
        if destIsDirectory {
            try makeDirectories(root, destination, owner: nil)
        } else {
            try makeDirectories(root, parentOf(destination), owner: nil)
        }
        for (path, relative) in sources {
            var st = stat()
            // The top-level source is followed when it is a symlink (as Docker does), but must stay
            // inside the source root.
            guard stat(path, &st) == 0 else { throw .errno("stat", relative.isEmpty ? "." : relative) }
            try checkInside(path, sourceRoot, relative: relative, c)
            if st.st_mode & S_IFMT == S_IFDIR {
                let target = root + destination
                if !isDirectory(target) { try makeDirectories(root, destination, owner: nil) }
                try TreeCopy.copyContents(of: path, into: target, owner: owner, mode: mode,
                                          filter: copyFilter(c, sourceRelative: relative, includes: nil))
            } else if c.isAdd && c.unpack != false && c.source == .context && st.st_size > 0, let unpacked = try unpackArchive(path, name: relative) {
                // ADD of a local tar archive (plain, gzip, bzip2, xz, zstd): its contents are
                // merged into the destination directory, owners from the archive unless --chown.
                if !isDirectory(root + destination) { try makeDirectories(root, destination, owner: nil) }
                try TreeCopy.copyContents(of: unpacked, into: root + destination, owner: c.chown == nil ? nil : owner, mode: mode)
            } else {
                // A file named by the source (a wildcard match included): --exclude patterns apply
                // below a copied directory only, as in BuildKit.
                let name = String(relative.split(separator: "/").last ?? Substring(relative))
                let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
                TreeCopy.remove(target)
                try TreeCopy.copy(path, to: target, owner: owner, mode: mode)
            }
        }
        for (name, content) in c.inlineFiles {
            // The planner refuses such names with their position; a plan made otherwise is
            // checked here, since the name is joined onto a host path.
            guard isFileName(name) else { throw RootFSError("\(c.isAdd ? "ADD" : "COPY") <<\(name): " + heredocNameRule) }
            let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeCopy.remove(target)
            let permissions = mode_t(mode?.apply(to: 0o644, isDirectory: false) ?? 0o644)
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
            guard fd >= 0 else { throw .errno("create", target.dropFirst(root.count).description) }
            let bytes = Array(content.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            _ = RecordedOwner.set(target, uid: owner.uid, gid: owner.gid)
            chmod(target, permissions)
        }
    }

    /// The filter for copying one source: `.dockerignore` (context sources, paths relative to
    /// the context), --exclude patterns (relative to the source) and, for --parents, the source
    /// pattern as an include pattern.
    func copyFilter(_ c: CopyStep, sourceRelative: String, includes: DockerIgnore?) -> CopyFilter {
        let ignore = c.source == .context ? context.ignore : DockerIgnore(patterns: [])
        let excludes = DockerIgnore(patterns: c.excludes)
        return { rel in
            let full = sourceRelative.isEmpty ? rel : sourceRelative + "/" + rel
            if ignore.excludes(full) || excludes.excludes(rel) {
                let reincluded = ignore.mayMatch(below: full, exceptions: true) || excludes.mayMatch(below: rel, exceptions: true)
                return reincluded ? .descend : .skip
            }
            guard let includes else { return .include }
            if includes.matches(rel) { return .include }
            return includes.mayMatch(below: rel, exceptions: false) ? .descend : .skip
        }
    }

    /// A top-level source may be a symlink (followed, as Docker does) but must stay inside its root.
    func checkInside(_ path: String, _ sourceRoot: String, relative: String, _ c: CopyStep) throws(RootFSError) {
        var resolvedPath = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var resolvedRoot = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &resolvedPath) != nil, realpath(sourceRoot, &resolvedRoot) != nil else {
            throw .errno("resolve", relative.isEmpty ? "." : relative)
        }
        let p = String(decoding: resolvedPath.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let r = String(decoding: resolvedRoot.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard p == r || p.hasPrefix(r == "/" ? "/" : r + "/") else {
            throw RootFSError("\(relative): a symlink that leads outside the \(c.source == .context ? "build context" : "source stage")")
        }
    }

    /// COPY --parents: each source keeps its path relative to the source root, or to a `/./`
    /// pivot in it (`COPY --parents ./src/./app/*.py /dst/` gives /dst/app/x.py). The source is
    /// an include pattern over the tree below the pivot (`**` for any depth); a source without
    /// wildcards must exist.
    func copyWithParents(_ c: CopyStep, from sourceRoot: String, into root: String, owner: Ownership, mode: ModeChange?) throws(RootFSError) {
        let destination = try scopedPath(root, normalize(c.destination))
        try makeDirectories(root, destination, owner: nil)
        for p in c.paths {
            var pivot = "/", pattern = String(normalize("/" + p).dropFirst())
            let parts = p.split(separator: "/", omittingEmptySubsequences: false)
            if let dot = parts.dropFirst().firstIndex(of: "."), dot < parts.count - 1 {
                pivot = normalize("/" + parts[..<dot].joined(separator: "/"))
                pattern = String(normalize("/" + parts[(dot + 1)...].joined(separator: "/")).dropFirst())
            }
            let pivotRelative = String(pivot.dropFirst())
            let base = pivotRelative.isEmpty ? sourceRoot : sourceRoot + "/" + pivotRelative
            guard isDirectory(base) else {
                throw RootFSError("COPY --parents failed: \(p): \(pivot) is not a directory in the \(c.source == .context ? "build context" : "source stage")")
            }
            try checkInside(base, sourceRoot, relative: pivotRelative, c)
            let wild = p.contains { "*?[".contains($0) }
            if !wild {
                var st = stat()
                guard lstat(base + "/" + pattern, &st) == 0 else {
                    throw RootFSError("COPY failed: \(p): no such file or directory in the \(c.source == .context ? "build context" : "source stage")")
                }
            }
            let copied = try TreeCopy.copyContents(of: base, into: root + destination, owner: owner, mode: mode,
                                                   filter: copyFilter(c, sourceRelative: pivotRelative, includes: DockerIgnore(patterns: [pattern])))
            if !copied && !wild {
                throw RootFSError("COPY failed: \(p): excluded (by .dockerignore or --exclude)")
            }
        }
    }

    /// ADD <git URL>[#ref[:subdir]] <dir>: the commit's tree (or the subdirectory's) is copied
    /// into the destination directory, owned by root (or --chown), as BuildKit does.
    func addGit(_ c: CopyStep, into root: String, users: String? = nil) throws(RootFSError) {
        guard c.paths.count == 1, let url = c.paths.first, isGitSource(url) else {
            throw RootFSError("ADD: a git repository must be the only source of its instruction")
        }
        guard let gitFetcher else { throw RootFSError("ADD \(url): git sources are not available here") }
        if c.checksum != nil { throw RootFSError("ADD --checksum \(url): pin a git source with #<commit id> instead") }
        let owner = try c.chown.map { spec throws(RootFSError) in
            let r = try UserDatabase(rootfs: users ?? root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        }
        let mode = try c.chmod.map { m throws(RootFSError) in try ModeChange(m) }
        let scratch = try scratchDirectory("git")
        defer { TreeCopy.remove(scratch) }
        let id = try gitID(url)
        do { _ = try gitFetcher(url, id, scratch, c.keepGitDir, try gitAccess(url)) } catch { throw RootFSError("ADD \(url): \(error)") }
        let destination = try scopedPath(root, normalize(c.destination))
        try makeDirectories(root, destination, owner: nil)
        try TreeCopy.copyContents(of: scratch, into: root + (destination == "/" ? "" : destination), owner: owner, mode: mode)
    }

    /// The object id `url` names, asked once per build.
    func gitID(_ url: String) throws(RootFSError) -> String {
        if let id = gitIDs[url] { return id }
        guard let gitResolver else { throw RootFSError("ADD \(url): git sources are not available here") }
        let access = try gitAccess(url)
        do {
            let id = try gitResolver(url, access)
            gitIDs[url] = id
            return id
        } catch {
            throw RootFSError("ADD \(url): \(error)")
        }
    }

    /// What a git source may use: credentials from the build secrets (http), and the build's
    /// default SSH agent (`--ssh default`, as BuildKit's git source uses it).
    func gitAccess(_ url: String) throws(RootFSError) -> GitAccess {
        var access = GitAccess(sshAgent: sshAgents["default"])
        try gitCredentials(url, into: &access)
        return access
    }

    /// Credentials for a git repository from the build secrets, as BuildKit looks them up: the
    /// first of GIT_AUTH_HEADER.<host>, GIT_AUTH_TOKEN.<host>, GIT_AUTH_HEADER, GIT_AUTH_TOKEN
    /// (<host> with its port). A header secret is the whole Authorization value; a token is sent
    /// as basic x-access-token:<token> (the transport's business), which GitHub, GitLab and Gitea
    /// accept.
    func gitCredentials(_ url: String, into access: inout GitAccess) throws(RootFSError) {
        var host = ""
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        if parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty {  // scheme://authority/...
            var authority = parts[2].prefix { $0 != "#" }
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            host = String(authority)
        }
        for (id, isToken) in [("GIT_AUTH_HEADER." + host, false), ("GIT_AUTH_TOKEN." + host, true), ("GIT_AUTH_HEADER", false), ("GIT_AUTH_TOKEN", true)] {
            guard let file = secrets[id] else { continue }
            guard let text = readText(file) else { throw RootFSError("secret \(id): cannot read \(file)") }
            let value = String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
            guard !value.isEmpty, !value.contains(where: \.isNewline) else { throw RootFSError("secret \(id): not a single line") }
            if isToken { access.token = value } else { access.header = value }
            return
        }
    }

    /// ADD <url>...: each URL downloaded, checked against --checksum, written with mode 0600 (or
    /// --chmod) and the server's Last-Modified time; not unpacked unless --unpack=true, which
    /// extracts a downloaded tar archive into the destination directory, as BuildKit does.
    func addURLs(_ c: CopyStep, into root: String, users: String? = nil) throws(RootFSError) {
        guard c.paths.allSatisfy({ $0.contains("://") }) else {
            throw RootFSError("ADD: mixing URLs and local sources in one instruction is not supported")
        }
        if c.checksum != nil && c.paths.count != 1 { throw RootFSError("ADD --checksum needs exactly one source") }
        let owner = try c.chown.map { spec throws(RootFSError) in
            let r = try UserDatabase(rootfs: users ?? root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        } ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(RootFSError) in try ModeChange(m) }
        let destination = try scopedPath(root, normalize(c.destination))
        let intoDirectory = c.destination.hasSuffix("/") || c.paths.count > 1 || isDirectory(root + destination)
        try makeDirectories(root, intoDirectory ? destination : parentOf(destination), owner: nil)
        let scratch = try scratchDirectory("url")
        defer { TreeCopy.remove(scratch) }
        for url in c.paths {
            let file = scratch + "/download"
            let fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .errno("create", file) }
            let mtime: Int64?
            do { mtime = try urlFetcher(url, fd) } catch { close(fd); throw RootFSError("ADD \(url): \(error)") }
            close(fd)
            if let expected = c.checksum {
                let algorithm = String(expected.prefix { $0 != ":" })
                let actual = readDigest(file, algorithm: algorithm)
                guard actual == expected else {
                    throw RootFSError("ADD \(url): checksum mismatch: expected \(expected), got \(actual ?? "?")")
                }
            }
            if c.unpack == true, let unpacked = try unpackArchive(file, name: url) {
                try makeDirectories(root, destination, owner: nil)
                try TreeCopy.copyContents(of: unpacked, into: root + destination, owner: c.chown == nil ? nil : owner, mode: mode)
                continue
            }
            var name = String(url.split(separator: "?").first?.split(separator: "/").last ?? "")
            if name.isEmpty || url.split(separator: "/").count <= 2 { name = "index.html" }
            // `http://host/a/..` would name the download `..`: the destination's parent.
            guard !intoDirectory || isFileName(name) else {
                throw RootFSError("ADD \(url): \(name) is not a file name; give the destination file's name")
            }
            let target = intoDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeCopy.remove(target)
            // The stage may be an overlay mount: another filesystem than the download's.
            if rename(file, target) != 0 {
                guard errno == EXDEV else { throw .errno("rename", target.dropFirst(root.count).description) }
                try TreeCopy.copy(file, to: target)
            }
            _ = RecordedOwner.set(target, uid: owner.uid, gid: owner.gid)
            chmod(target, mode_t(mode?.apply(to: 0o600, isDirectory: false) ?? 0o600))
            if let mtime {
                var times = [timespec(tv_sec: Int(mtime), tv_nsec: 0), timespec(tv_sec: Int(mtime), tv_nsec: 0)]
                utimensat(AT_FDCWD, target, &times, AT_SYMLINK_NOFOLLOW)
            }
        }
    }

    /// Unpacks `path` into a private directory when libarchive reads it as a tar archive; nil
    /// when it is not one (it is then copied as a file, as Docker does). The unpacking is the
    /// layer code's: entries cannot leave the directory.
    func unpackArchive(_ path: String, name: String) throws(RootFSError) -> String? {
        do {
            let probe = try TarReader(path: path, name: name)
            guard try probe.next() != nil else { return nil }
        } catch {
            return nil
        }
        let dir = try scratchDirectory("add")
        do {
            let flat = try FlattenedImage(layers: [LayerFile(path: path, digest: nil, label: "archive \(name)")])
            try flat.extract(to: dir)
        } catch {
            throw RootFSError("ADD failed: \(error)")
        }
        return dir
    }

    func run(_ r: RunStep, in root: String) throws(RootFSError) {
        do { try Sandbox.requirePrivileges() } catch { throw RootFSError(error.message) }
        let users = try UserDatabase(rootfs: root)
        let ids = try users.resolve(r.user ?? "0:0")
        try makeDirectories(root, r.workingDirectory, owner: nil)
        var scripts: [String] = []
        var argv = r.argv
        for (path, content) in r.files.sorted(by: { $0.key < $1.key }) {
            // Heredoc scripts are put in the root for the step and removed after it.
            let inRoot = "/.gvmc-heredoc-\(getpid())-\(scripts.count)"
            // A new file: whatever the image has at that name (a FIFO, a hardlink) is replaced.
            TreeCopy.remove(root + inRoot)
            let fd = open(root + inRoot, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o755)
            guard fd >= 0 else { throw .errno("create", inRoot) }
            let bytes = Array(content.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, 0o755)
            close(fd)
            scripts.append(root + inRoot)
            argv = argv.map { $0 == path ? inRoot : $0 }
        }
        defer { for s in scripts { unlink(s) } }
        var environment = r.environment
        var temporaries: [String] = []
        defer {
            for relay in relays { gvmc_relay_stop(relay) }
            relays.removeAll()
            for fd in heldLocks { close(fd) }
            heldLocks.removeAll()
            for t in temporaries { TreeCopy.remove(t) }
        }
        let mounts = try sandboxMounts(r, environment: &environment, temporaries: &temporaries)
        var spec = SandboxSpec(rootfs: root, arguments: argv, environment: environment)
        spec.mounts = mounts
        spec.uid = ids.uid; spec.gid = ids.gid; spec.supplementaryGroups = ids.groups
        spec.workingDirectory = r.workingDirectory
        spec.isolateNetwork = r.network == "none" || (r.network != "host" && defaultNetwork == "none")
        let status: Int32
        let sink: ((Int32, UnsafeRawBufferPointer) -> Void)? = events.map { e in { stream, bytes in e.stepOutput(bytes, stream: stream) } }
        do { status = try Sandbox.run(spec, output: sink) } catch {
            // A program for another architecture: the kernel says only "Exec format error" (or
            // "No such file" for a handler whose interpreter is not in the root).
            func arch(_ p: String) -> Substring { p.split(separator: "/").dropFirst().first ?? "" }
            let foreign = arch(stagePlatform) == arch(Sandbox.hostPlatform) ? "" :
                "\nnote: this stage is for \(stagePlatform) and this machine runs \(Sandbox.hostPlatform): running its programs needs a binfmt_misc handler for that architecture registered with the F flag (Debian: apt-get install qemu-user-static)"
            throw RootFSError(error.message + foreign)
        }
        guard status == 0 else {
            // In an unprivileged build with only root mapped, chown and setuid to any other id
            // fail: say why, since the step's own message ("Invalid argument") does not.
            let hint = UserNamespace.current == .single ? "\nnote: " + UserNamespace.singleMappingHint : ""
            throw RootFSError("RUN \(argv.last ?? "") did not complete successfully: exit code \(status)" + hint)
        }
    }
}

/// Credentials a git source may use.
public struct GitAccess: Sendable {
    /// For http(s) remotes: a whole Authorization header value, or a token.
    public var header: String?
    public var token: String?
    /// The SSH agent socket for SSH remotes.
    public var sshAgent: String?
}

/// A build's steps as they happen (BuildKit's vertices).
public protocol StepEvents: AnyObject {
    /// A step starts, named as BuildKit names it (`[build 2/5] RUN make`).
    func stepStarted(_ name: String)
    /// Its result came from the step cache (the key it was found under); `from` names the shared
    /// cache it was imported from (`registry HOST/REPO:TAG`), nil for this machine's.
    func stepCached(key: String, from: String?)
    /// It ran to the end (its cache key when it has one).
    func stepDone(key: String?)
    func stepFailed(_ message: String)
    /// Output of a RUN step (stream 1 or 2).
    func stepOutput(_ bytes: UnsafeRawBufferPointer, stream: Int32)
}

extension BuildExecutor {
    /// BuildKit's step name: `[STAGE i/N] INSTRUCTION args` where N counts FROM (of an image),
    /// RUN, COPY, ADD and WORKDIR; no stage in a single-stage build of an unnamed stage,
    /// `stage-K` for unnamed stages of a multi-stage build; i right-aligned to N's width.
    func stepName(_ stage: PlannedStage, _ n: Int) -> String {
        let fromImage: Bool
        if case .image = stage.base { fromImage = true } else { fromImage = false }
        let total = stage.steps.count + (fromImage ? 1 : 0)
        let index = n + 1 + (fromImage ? 1 : 0)
        let text = stage.steps[n].node.original.split(separator: "\n").first.map(String.init) ?? ""
        return Self.prefix(stage, multiStage: plan.stages.count > 1 || stage.index > 0, index: index, total: total) + text
    }

    static func prefix(_ stage: PlannedStage, multiStage: Bool, index: Int, total: Int) -> String {
        let name = stage.name ?? (multiStage ? "stage-\(stage.index)" : nil)
        let width = String(total).count
        let number = String(repeating: " ", count: max(0, width - String(index).count)) + String(index)
        return "[" + (name.map { $0 + " " } ?? "") + "\(number)/\(total)] "
    }

    /// The FROM step of a stage built on an image (`[1/3] FROM debian:12`); nil for scratch and stages.
    public func fromStepName(_ stage: PlannedStage) -> String? {
        guard case .image(let ref) = stage.base else { return nil }
        return Self.prefix(stage, multiStage: plan.stages.count > 1 || stage.index > 0, index: 1, total: stage.steps.count + 1) + "FROM " + ref
    }
}
