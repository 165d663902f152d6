// The step cache. Each step of a stage runs in an overlay upper directory of its own; when it
// succeeds, that directory is renamed into the cache as a read-only layer named by a key chaining
// the stage's base (the image id, scratch, or the parent stage's key) and every step's inputs,
// as the step's operation gives them (StepOperation.cacheKey): the expanded instruction (command,
// environment, user, working directory, mounts) and, for COPY/ADD and RUN bind mounts, the
// content of their sources (SourceIdentity: context files by path, type, mode, size and SHA-256;
// other stages by their keys; images by id); ADD of a git repository by the object id its ref
// names when the build starts (GitAddOperation). A later build whose step has the same key
// stacks that layer instead of running the step; nothing is copied either way.
//
// Not cached (the steps after them in the stage run every time): ADD of URLs without --checksum
// (only a download would tell), sources from stages that are not cached themselves, and stages
// without overlay mounts (an unprivileged build outside a user namespace, a cache directory on a
// filesystem that cannot hold overlay upper directories). Secrets, SSH agents and cache mounts are
// not part of a key, as in BuildKit. `--no-cache` runs every step (and stores results the cache
// does not have yet).
import BuildCache
import BuildPlan
import CSystem
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// A layer of the step cache a build used or made: what `--cache-to` exports.
public struct StepLayer: Sendable {
    public var stage: Int
    public var key: String
    /// The layer's directory (an overlay upper directory).
    public var path: String
}

/// A step cache shared between machines (`gvmc build --cache-from`).
public protocol SharedStepCache: AnyObject {
    /// Fills `directory` (empty, on the step cache's filesystem) with the layer of `key`; returns
    /// where it came from (`registry HOST/REPO:TAG`), or nil when no shared cache has it or
    /// getting it failed (a warning; the step then runs).
    func fetchLayer(key: String, into directory: String) -> String?
}

/// A stage mounted as an overlay of layers (topmost first) with a private upper directory.
final class StageLayers {
    let root: String
    var lowers: [String]
    var upper: String
    var work: String
    /// The key of everything in `lowers`; nil once a step could not be cached (the upper then
    /// keeps collecting the stage's changes).
    var key: String?

    init(root: String, lowers: [String], upper: String, work: String, key: String?) {
        self.root = root; self.lowers = lowers; self.upper = upper; self.work = work; self.key = key
    }
}

extension BuildExecutor {
    /// The page-sized limit of mount options, with room for the upper and work directories.
    static let maximumLowerOptions = 3500
    /// Overlay's own limit (OVL_MAX_STACK), reachable where layers are added one by one.
    static let maximumLayers = 500
    /// Whether the kernel's overlay takes layers one by one ("lowerdir+", Linux 6.8).
    static let appendsLayers = gvmc_overlay_appends_layers() != 0

    /// Mounts a stage as layers when the step cache is on; false leaves `root` untouched.
    func startLayers(_ root: String, lowers: [String]?, key: String) throws(ExecutorError) -> StageLayers? {
        guard stepCacheDirectory != nil, getuid() == 0, let dir = try layerScratch() else { return nil }
        var base = lowers ?? []
        if base.isEmpty {
            // Overlay needs a lower layer: an empty one for FROM scratch.
            let empty = dir + "/empty"
            if access(empty, F_OK) != 0 {
                guard mkdir(empty, 0o755) == 0 else { throw .errno("mkdir", empty) }
                var epoch = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
                utimensat(AT_FDCWD, empty, &epoch, 0)
            }
            base = [empty]
        }
        let (upper, work) = try freshUpper(dir)
        let layers = StageLayers(root: root, lowers: base, upper: upper, work: work, key: key)
        guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) }
        guard mountLayers(layers) else {
            rmdir(root)
            return nil
        }
        return layers
    }

    /// A directory of this build on the step cache's filesystem (removed by `finish`), for
    /// archives of exported layers; nil without a step cache.
    public func scratchDirectory() -> String? { try? layerScratch() }

    /// The build's private directory inside the step cache (upper and work directories live on
    /// the cache's filesystem, so a finished step is renamed into the cache). Leftovers of
    /// killed builds are removed.
    func layerScratch() throws(ExecutorError) -> String? {
        if let layerDirectory { return layerDirectory }
        guard let cache = stepCacheDirectory else { return nil }
        // Without the cache's directory the stage is built without layers.
        do { if let notice = try PrivateDirectory.make(cache) { context.warn(notice) } } catch { return nil }
        for name in listDirectory(cache) ?? [] where name.hasPrefix(".build-") && CachePrune.writerIsGone(name, pidAfter: ".build-") {
            TreeRemoval.remove(cache + "/" + name)
        }
        guard let dir = makeTemporaryDirectory("\(cache)/.build-\(getpid())-XXXXXX") else { return nil }
        TemporaryDirectories.shared.add(dir)
        layerDirectory = dir
        return dir
    }

    func freshUpper(_ dir: String) throws(ExecutorError) -> (String, String) {
        layerCount += 1
        let upper = dir + "/u\(layerCount)", work = dir + "/w\(layerCount)"
        guard mkdir(upper, 0o755) == 0 else { throw .errno("mkdir", upper) }
        guard mkdir(work, 0o700) == 0 else { throw .errno("mkdir", work) }
        return (upper, work)
    }

    func mountLayers(_ l: StageLayers) -> Bool {
        let lowers = l.lowers.joined(separator: ":")
        // Past the option string's limit (or with paths it cannot carry) the layers go one by one.
        let oneByOne =
            lowers.utf8.count > Self.maximumLowerOptions
            || (l.lowers + [l.upper, l.work]).contains(where: { $0.contains(where: { ",:\\".contains($0) }) })
        guard !oneByOne || (Self.appendsLayers && l.lowers.count <= Self.maximumLayers) else { return false }
        // The merged root directory is the upper directory itself: a fresh one takes the owner,
        // mode and times of the layer below, so a build from cached layers gives the same image.
        var st = stat()
        if stat(l.lowers[0], &st) == 0, (listDirectory(l.upper) ?? ["?"]).isEmpty {
            _ = RecordedOwner.set(l.upper, uid: st.st_uid, gid: st.st_gid)
            if let owner = RecordedOwner.read(l.lowers[0]) { _ = RecordedOwner.set(l.upper, uid: owner.uid, gid: owner.gid) }
            chmod(l.upper, st.st_mode & 0o7777)
            var times = [st.st_atim, st.st_mtim]
            utimensat(AT_FDCWD, l.upper, &times, 0)
        }
        // In a user namespace overlayfs cannot use trusted.* xattrs (opaque directories,
        // redirects): it keeps them as user.overlay.* instead.
        let userxattr = UserNamespace.current != nil ? ",userxattr" : ""
        TemporaryDirectories.shared.addMount(l.root)
        let mounted: Bool
        if oneByOne {
            var paths = l.lowers.map { strdup($0) }
            defer { for p in paths { free(p) } }
            mounted = paths.withUnsafeMutableBufferPointer { b in
                b.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: b.count) {
                    gvmc_mount_overlay_layers(l.root, $0, Int32(b.count), l.upper, l.work, userxattr.isEmpty ? 0 : 1) == 0
                }
            }
        } else {
            // Each upper directory must hold its step's whole change (it is a cached layer and
            // what --cache-to exports): no redirects, no metacopy-only files (kernels before 4.19
            // know no metacopy option; userxattr turns both off itself).
            let options = "lowerdir=\(lowers),upperdir=\(l.upper),workdir=\(l.work)" + userxattr
            mounted =
                (userxattr.isEmpty && gvmc_mount_overlay(l.root, options + ",redirect_dir=off,metacopy=off") == 0)
                || gvmc_mount_overlay(l.root, options) == 0
        }
        guard mounted else {
            TemporaryDirectories.shared.removeMount(l.root)
            return false
        }
        mounts.append(l.root)
        return true
    }

    func unmountLayers(_ l: StageLayers) -> Bool {
        guard gvmc_umount(l.root) == 0 else { return false }
        mounts.removeAll { $0 == l.root }
        TemporaryDirectories.shared.removeMount(l.root)
        return true
    }

    /// Whether one more layer can be mounted: within the option string's limit, or, where the
    /// kernel takes layers one by one, within overlay's.
    func canStack(_ l: StageLayers, _ layer: String) -> Bool {
        if Self.appendsLayers { return l.lowers.count + 1 <= Self.maximumLayers }
        return (l.lowers + [layer]).joined(separator: ":").utf8.count <= Self.maximumLowerOptions
    }

    /// A cached step: its layer goes on top (the upper is empty, every earlier step being a layer).
    func stack(_ l: StageLayers, _ layer: String, key: String) throws(ExecutorError) -> Bool {
        guard canStack(l, layer), unmountLayers(l) else { return false }
        l.lowers.insert(layer, at: 0)
        guard mountLayers(l) else { throw ExecutorError("cannot mount the stage's layers again at \(l.root)") }
        l.key = key
        return true
    }

    /// After a step ran: its upper directory becomes the cached layer for `key` (or, when another
    /// build stored the same key first, that one), and a fresh upper takes its place.
    func freeze(_ l: StageLayers, key: String, stage: Int) throws(ExecutorError) {
        guard let cache = stepCacheDirectory, let dir = layerDirectory else { l.key = nil; return }
        let final = cache + "/" + key.prefix(32)
        guard canStack(l, final), unmountLayers(l) else { l.key = nil; return }
        // The step's own result is used; when the cache has the key already (another build
        // stored it meanwhile, or --no-cache ran the step again) the entry is left as it is,
        // since other builds may be using it, and this build's layer stays private.
        var layer = l.upper
        if rename(l.upper, final) == 0 {
            layer = final
            CacheUse.stored(final)
        }
        TreeRemoval.remove(l.work)
        layerRecords.append(StepLayer(stage: stage, key: key, path: layer))
        l.lowers.insert(layer, at: 0)
        (l.upper, l.work) = try freshUpper(dir)
        guard mountLayers(l) else { throw ExecutorError("cannot mount the stage's layers again at \(l.root)") }
        l.key = key
    }

    /// COPY --link (BuildKit's semantics): the files are copied into an empty layer of their
    /// own, not onto the stage's tree (the destination is not resolved through the tree's
    /// symlinks; directories made on the way are new, 0755 and root's), and the layer is stacked
    /// on the stage. Its key leaves out the steps before it (unless --chown names need the
    /// stage's user database), so the layer is reused when they change. False when the layer cannot be stacked (the caller copies as without --link).
    func copyLinked(
        _ operation: any FileOperation, title: String, stage: Int, onto l: StageLayers, after previous: String
    ) throws(ExecutorError) -> Bool {
        // --chown names are resolved through the stage's /etc/passwd and /etc/group: then the
        // layer depends on the steps before it after all.
        let byName = operation.copy.chown.map { $0.split(separator: ":").contains { UInt32($0) == nil } } ?? false
        guard let linkKey = try operation.cacheKey(after: byName ? previous : "COPY --link", in: context),
            let cache = stepCacheDirectory, let dir = layerDirectory
        else { return false }
        var layer: String
        var fromCache = false
        if useStepCache, let (cached, origin) = cachedLayer(linkKey) {
            fromCache = true
            guard canStack(l, cached) else { return false }
            events?.stepStarted(title)
            events?.stepCached(key: linkKey, from: origin)
            layer = cached
        } else {
            let temp = dir + "/link\(layerCount)"
            layerCount += 1
            guard canStack(l, cache + "/" + linkKey.prefix(32)) else { return false }
            events?.stepStarted(title)
            guard mkdir(temp, 0o755) == 0 else { throw .errno("mkdir", temp) }
            var linked = operation
            linked.users = l.root
            try linked.execute(in: temp, context: context)
            layer = temp
            if rename(temp, cache + "/" + linkKey.prefix(32)) == 0 {
                layer = cache + "/" + linkKey.prefix(32)
                CacheUse.stored(layer)
            }
        }
        layerRecords.append(StepLayer(stage: stage, key: linkKey, path: layer))
        var h = SHA256()
        h.update(Array("\(previous)\0\(linkKey)".utf8))
        let stacked = try stack(l, layer, key: h.finalize().hexString)
        if stacked && !fromCache { events?.stepDone(key: linkKey) }
        return stacked
    }

    /// The cached layer for `key`: one a build here stored, else one a shared cache has (imported
    /// into this machine's cache first); with the shared cache's name.
    func cachedLayer(_ key: String) -> (path: String, origin: String?)? {
        guard let cache = stepCacheDirectory else { return nil }
        let path = cache + "/" + key.prefix(32)
        if isDirectory(path, follow: false) {
            CacheUse.touch(path)
            return (path, nil)
        }
        guard let sharedCache, let dir = try? layerScratch() else { return nil }
        layerCount += 1
        let temp = dir + "/import\(layerCount)"
        guard mkdir(temp, 0o755) == 0 else { return nil }
        guard let origin = sharedCache.fetchLayer(key: key, into: temp) else {
            TreeRemoval.remove(temp)
            return nil
        }
        // Another build may have stored the key meanwhile: then that entry is used.
        if rename(temp, path) == 0 { CacheUse.stored(path) } else { TreeRemoval.remove(temp) }
        guard isDirectory(path, follow: false) else { return nil }
        return (path, origin)
    }
}
