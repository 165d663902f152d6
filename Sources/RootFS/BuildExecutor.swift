// Carries out a BuildPlan: a working root filesystem per stage (in a temporary directory),
// FROM <stage> copies, WORKDIR directories, COPY from the context or another stage, RUN in the
// sandbox. The target's root filesystem and configuration come out; the caller packs them.
import BuildPlan
import Layers
import Sandbox
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
    var stageRoots: [Int: String] = [:]
    /// Progress lines ("#3 RUN apt-get update").
    public var log: (String) -> Void = { _ in }
    public var file: String = "Dockerfile"
    /// Unpacks image `ref` into the (existing, empty) directory: FROM <image>, COPY --from=<image>.
    public var imageProvider: (String, String) throws -> Void = { ref, _ in
        throw RootFSError("no image source configured for \(ref)")
    }
    var imageRoots: [String: String] = [:]
    /// Downloads `url` into the given file; returns its Last-Modified time when known (ADD <url>).
    public var urlFetcher: (String, Int32) throws -> Int64? = { url, _ in
        throw RootFSError("no downloader configured for \(url)")
    }
    /// `--secret id=ID,src=FILE` (or env=VAR): id → the host file holding the secret.
    public var secrets: [String: String] = [:]
    /// `gvmc build --network`: "none" gives every RUN step an empty network namespace unless the
    /// step asks for another network itself.
    public var defaultNetwork = "default"
    /// Where `RUN --mount=type=cache` directories persist between builds.
    public var runCacheDirectory: String?

    /// An image unpacked once per build for COPY --from=<image>.
    func imageRoot(_ ref: String) throws(RootFSError) -> String {
        if let r = imageRoots[ref] { return r }
        let root = workDirectory + "/image-\(imageRoots.count)"
        guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) }
        do { try imageProvider(ref, root) } catch { throw RootFSError("COPY --from=\(ref): \(error)") }
        imageRoots[ref] = root
        return root
    }

    public init(plan: BuildPlan, context: BuildContext) throws(RootFSError) {
        self.plan = plan
        self.context = context
        let base = temporaryRoot()
        var template = Array("\(base)/gvmc-build-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw RootFSError.errno("create a build directory in", base)
        }
        workDirectory = String(cString: made)
        TemporaryDirectories.shared.add(workDirectory)
    }

    deinit {
        TreeCopy.remove(workDirectory)
        TemporaryDirectories.shared.remove(workDirectory)
    }

    /// Runs every stage; returns the target stage's root filesystem directory.
    public func run() throws(RootFSError) -> String {
        for stage in plan.stages {
            let root = workDirectory + "/stage-\(stage.index)"
            switch stage.base {
            case .scratch:
                guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) }
            case .stage(let parent):
                try TreeCopy.copy(stageRoots[parent]!, to: root)
            case .image(let ref):
                guard mkdir(root, 0o755) == 0 else { throw .errno("mkdir", root) }
                do { try imageProvider(ref, root) } catch {
                    throw RootFSError("\(file):\(stage.fromPosition): FROM \(ref): \(error)")
                }
            }
            stageRoots[stage.index] = root
            for (n, step) in stage.steps.enumerated() {
                log("#\(stage.index).\(n + 1) \(step.node.original.split(separator: "\n").first.map(String.init) ?? "")")
                do {
                    try execute(step, in: root)
                } catch {
                    throw RootFSError("\(file):\(step.node.position): \(error.message)")
                }
            }
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

    /// mkdir -p inside the root without following symlinks out of it.
    func makeDirectories(_ root: String, _ path: String, owner: Ownership?) throws(RootFSError) {
        var current = root
        for component in path.split(separator: "/") {
            current += "/" + component
            var st = stat()
            if lstat(current, &st) == 0 {
                if st.st_mode & S_IFMT == S_IFDIR { continue }
                throw RootFSError("\(path): \(current.dropFirst(root.count)) exists and is not a directory")
            }
            guard mkdir(current, 0o755) == 0 else { throw .errno("mkdir", String(current.dropFirst(root.count))) }
            if let owner { lchown(current, owner.uid, owner.gid) }
        }
    }

    func copy(_ c: CopyStep, into root: String) throws(RootFSError) {
        if c.isAdd && c.paths.contains(where: { $0.hasPrefix("git@") || $0.hasSuffix(".git") && $0.contains("://") }) {
            throw RootFSError("ADD of git repositories is not supported")
        }
        if c.isAdd && c.paths.contains(where: { $0.contains("://") }) {
            try addURLs(c, into: root)
            return
        }
        let sourceRoot: String
        switch c.source {
        case .context: sourceRoot = context.directory
        case .stage(let i): sourceRoot = stageRoots[i]!
        case .image(let ref): sourceRoot = try imageRoot(ref)
        }
        let owner = try c.chown.map { spec throws(RootFSError) in
            let r = try UserDatabase(rootfs: root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        } ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(RootFSError) in try ModeChange(m) }
        // Sources: context paths are clamped to the context; wildcards expand per component.
        var sources: [(path: String, relative: String)] = []
        for p in c.paths {
            let clean = normalize("/" + p)
            let matches = expandWildcards(sourceRoot, String(clean.dropFirst()))
            if matches.isEmpty {
                throw RootFSError("\(c.isAdd ? "ADD" : "COPY") failed: \(p): no such file or directory in the \(c.source == .context ? "build context" : "source stage")")
            }
            for m in matches {
                if c.source == .context && context.ignore.excludes(m) && !m.isEmpty { continue }
                sources.append((m.isEmpty ? sourceRoot : sourceRoot + "/" + m, m))
            }
        }
        if sources.isEmpty && c.inlineFiles.isEmpty {
            throw RootFSError("\(c.isAdd ? "ADD" : "COPY") failed: every source (\(c.paths.joined(separator: " "))) is excluded by .dockerignore")
        }
        let destIsDirectory = c.destination.hasSuffix("/") || sources.count + c.inlineFiles.count > 1
            || isDirectory(root + c.destination)
        let destination = normalize(c.destination)
        if destIsDirectory {
            try makeDirectories(root, destination, owner: nil)
        } else {
            try makeDirectories(root, parentOf(destination), owner: nil)
        }
        let include: (String) -> Bool = { [ignore = context.ignore, isContext = c.source == .context] rel in
            !isContext || !ignore.excludes(rel)
        }
        for (path, relative) in sources {
            var st = stat()
            // The top-level source is followed when it is a symlink (as Docker does), but must stay
            // inside the source root.
            guard stat(path, &st) == 0 else { throw .errno("stat", relative.isEmpty ? "." : relative) }
            var resolvedPath = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            var resolvedRoot = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            if realpath(path, &resolvedPath) != nil, realpath(sourceRoot, &resolvedRoot) != nil {
                let p = String(decoding: resolvedPath.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                let r = String(decoding: resolvedRoot.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                guard p == r || p.hasPrefix(r == "/" ? "/" : r + "/") else {
                    throw RootFSError("\(relative): a symlink that leads outside the \(c.source == .context ? "build context" : "source stage")")
                }
            }
            if st.st_mode & S_IFMT == S_IFDIR {
                let target = root + destination
                if !isDirectory(target) { try makeDirectories(root, destination, owner: nil) }
                try copyContents(of: path, into: target, owner: owner, mode: mode, include: include, relative: relative)
            } else if c.isAdd && c.source == .context && st.st_size > 0, let unpacked = try unpackArchive(path, name: relative) {
                // ADD of a local tar archive (plain, gzip, bzip2, xz, zstd): its contents are
                // merged into the destination directory, owners from the archive unless --chown.
                if !isDirectory(root + destination) { try makeDirectories(root, destination, owner: nil) }
                try copyContents(of: unpacked, into: root + destination, owner: c.chown == nil ? nil : owner, mode: mode,
                                 include: { _ in true }, relative: "")
            } else {
                let name = String(relative.split(separator: "/").last ?? Substring(relative))
                let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
                TreeCopy.remove(target)
                try TreeCopy.copy(path, to: target, owner: owner, mode: mode)
            }
        }
        for (name, content) in c.inlineFiles {
            let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeCopy.remove(target)
            let permissions = mode_t(mode?.apply(to: 0o644, isDirectory: false) ?? 0o644)
            let fd = open(target, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, permissions)
            guard fd >= 0 else { throw .errno("create", target.dropFirst(root.count).description) }
            let bytes = Array(content.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchown(fd, owner.uid, owner.gid)
            fchmod(fd, permissions)
            close(fd)
        }
    }

    func copyContents(of directory: String, into target: String, owner: Ownership?, mode: ModeChange?,
                      include: (String) -> Bool, relative: String) throws(RootFSError) {
        guard let names = listDirectory(directory) else { throw .errno("opendir", directory) }
        for name in names.sorted() {
            let rel = relative.isEmpty ? name : relative + "/" + name
            guard include(rel) else { continue }
            let destination = target + "/" + name
            if isDirectory(destination) && isDirectory(directory + "/" + name, follow: false) {
                try copyContents(of: directory + "/" + name, into: destination, owner: owner, mode: mode, include: include, relative: rel)
                continue
            }
            TreeCopy.remove(destination)
            try TreeCopy.copy(directory + "/" + name, to: destination, owner: owner, mode: mode, isIncluded: include, relative: rel)
        }
    }

    /// ADD <url>...: each URL downloaded (never unpacked, as Docker does), checked against
    /// --checksum, written with mode 0600 (or --chmod) and the server's Last-Modified time.
    func addURLs(_ c: CopyStep, into root: String) throws(RootFSError) {
        guard c.paths.allSatisfy({ $0.contains("://") }) else {
            throw RootFSError("ADD: mixing URLs and local sources in one instruction is not supported")
        }
        if c.checksum != nil && c.paths.count != 1 { throw RootFSError("ADD --checksum needs exactly one source") }
        let owner = try c.chown.map { spec throws(RootFSError) in
            let r = try UserDatabase(rootfs: root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        } ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(RootFSError) in try ModeChange(m) }
        let destination = normalize(c.destination)
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
                guard let actual = readDigest(file), "sha256:" + actual == expected else {
                    throw RootFSError("ADD \(url): checksum mismatch: expected \(expected), got sha256:\(readDigest(file) ?? "?")")
                }
            }
            var name = String(url.split(separator: "?").first?.split(separator: "/").last ?? "")
            if name.isEmpty || url.split(separator: "/").count <= 2 { name = "index.html" }
            let target = intoDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeCopy.remove(target)
            guard rename(file, target) == 0 else { throw .errno("rename", target.dropFirst(root.count).description) }
            lchown(target, owner.uid, owner.gid)
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
        guard getuid() == 0 else {
            throw RootFSError("RUN needs root: it runs in new mount and PID namespaces (run gvmc build as root)")
        }
        let users = UserDatabase(rootfs: root)
        let ids = try users.resolve(r.user ?? "0:0")
        try makeDirectories(root, r.workingDirectory, owner: nil)
        var scripts: [String] = []
        var argv = r.argv
        for (path, content) in r.files.sorted(by: { $0.key < $1.key }) {
            // Heredoc scripts are put in the root for the step and removed after it.
            let inRoot = "/.gvmc-heredoc-\(getpid())-\(scripts.count)"
            let fd = open(root + inRoot, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o755)
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
        defer { for t in temporaries { TreeCopy.remove(t) } }
        let mounts = try sandboxMounts(r, environment: &environment, temporaries: &temporaries)
        var spec = SandboxSpec(rootfs: root, arguments: argv, environment: environment)
        spec.mounts = mounts
        spec.uid = ids.uid; spec.gid = ids.gid; spec.supplementaryGroups = ids.groups
        spec.workingDirectory = r.workingDirectory
        spec.isolateNetwork = r.network == "none" || (r.network != "host" && defaultNetwork == "none")
        let status: Int32
        do { status = try Sandbox.run(spec) } catch { throw RootFSError(error.message) }
        guard status == 0 else {
            throw RootFSError("RUN \(argv.last ?? "") did not complete successfully: exit code \(status)")
        }
    }
}

func parentOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
    return String(path[..<slash])
}

func isDirectory(_ path: String, follow: Bool = true) -> Bool {
    var st = stat()
    let rc = follow ? stat(path, &st) : lstat(path, &st)
    return rc == 0 && st.st_mode & S_IFMT == S_IFDIR
}

/// Relative paths under `root` matching `pattern` (filepath.Match per component); the pattern
/// itself when it has no wildcard and exists.
func expandWildcards(_ root: String, _ pattern: String) -> [String] {
    let components = pattern.split(separator: "/").map(String.init)
    if components.isEmpty { return [""] }
    var current = [""]
    for component in components {
        var next: [String] = []
        let wild = component.contains { "*?[".contains($0) }
        for base in current {
            let dir = base.isEmpty ? root : root + "/" + base
            if !wild {
                let candidate = base.isEmpty ? component : base + "/" + component
                var st = stat()
                if lstat(root + "/" + candidate, &st) == 0 { next.append(candidate) }
                continue
            }
            guard let names = listDirectory(dir) else { continue }
            for name in names.sorted() where DockerIgnore.glob(Array(component.unicodeScalars)[...], Array(name.unicodeScalars)[...]) {
                next.append(base.isEmpty ? name : base + "/" + name)
            }
        }
        current = next
    }
    return current
}

/// Where build directories go: $TMPDIR, else /var/tmp (large, and not a RAM tmpfs).
func temporaryRoot() -> String {
    if let t = getenv("TMPDIR") { return String(cString: t) }
    return "/var/tmp"
}

/// Build directories in progress, removed on interrupt.
public final class TemporaryDirectories: @unchecked Sendable {
    public static let shared = TemporaryDirectories()
    private var paths = Set<String>()
    private let mutex: UnsafeMutablePointer<pthread_mutex_t> = {
        let m = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        pthread_mutex_init(m, nil)
        return m
    }()
    func add(_ p: String) { pthread_mutex_lock(mutex); paths.insert(p); pthread_mutex_unlock(mutex) }
    func remove(_ p: String) { pthread_mutex_lock(mutex); paths.remove(p); pthread_mutex_unlock(mutex) }
    public func removeAll() {
        pthread_mutex_lock(mutex)
        let all = paths
        pthread_mutex_unlock(mutex)
        for p in all { TreeCopy.remove(p) }
    }
}
