// What the step operations of one build share: the build context, the build's private directory,
// the stages built so far, where images, git repositories and URLs come from, the settings of RUN
// steps and where step events go. What only one kind of step needs stays in its operation.
import BuildPlan
import Layers
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// The directory COPY and ADD read from, with its `.dockerignore`.
public struct BuildContext: Sendable {
    public var directory: String
    public var ignore: DockerIgnore
    public init(directory: String, ignore: DockerIgnore) { self.directory = directory; self.ignore = ignore }
}

/// Where FROM <image>, COPY --from=<image> and RUN --mount from=<image> find an image's files.
public protocol BaseImageSource: AnyObject {
    /// Unpacks image `ref` for a platform (nil: the build's target) into the (existing, empty)
    /// directory.
    func extract(_ ref: String, platform: String?, to root: String) throws
    /// The image's root filesystem, unpacked once and shared between builds (read-only). As
    /// root, a FROM <image> stage is an overlay mount over it (nothing is unpacked or copied per
    /// build), and COPY --from=<image> reads it directly.
    func tree(_ ref: String, platform: String?) throws -> String
}

/// What RUN steps get from the build (`gvmc build --network`, `--secret`, `--ssh`, the cache
/// directory); ADD of a git repository uses the secrets and the default SSH agent too.
public struct SandboxSettings: Sendable {
    /// "none" gives every RUN step an empty network namespace unless the step asks for another
    /// network itself.
    public var defaultNetwork = "default"
    /// `--secret id=ID,src=FILE` (or env=VAR): id → the host file holding the secret.
    public var secrets: [String: String] = [:]
    /// `--ssh ID=SOCKET`: id → the host's SSH agent socket.
    public var sshAgents: [String: String] = [:]
    /// Where `RUN --mount=type=cache` directories persist between builds.
    public var runCacheDirectory: String?
    public init() {}
}

/// The state and settings the operations of one build share (see StepOperation).
final class ExecutionContext {
    let buildContext: BuildContext
    /// The build's private directory: stage roots, unpacked archives, mount sources.
    let workDirectory: String
    /// Each stage's root filesystem, from when its steps start.
    var stageRoots: [Int: String] = [:]
    /// Each finished stage built on the step cache: its layers, whose key names its tree.
    var stageLayers: [Int: StageLayers] = [:]
    /// The platform of the stage being built (FROM <stage> inherits its parent's).
    var stagePlatform = Sandbox.hostPlatform
    /// Nil: FROM <image> and --from=<image> are refused.
    var images: (any BaseImageSource)?
    /// The trees of images read by COPY --from and bind mounts, asked once per build.
    var imageRoots: [String: String] = [:]
    /// Nil: ADD of git repositories is refused (and not cached).
    var git: (any GitRemote)?
    /// The object id each git URL names, asked once per build: the key and the checkout use
    /// the same answer.
    var gitIDs: [String: String] = [:]
    /// Nil: ADD of URLs is refused.
    var urlFetcher: (any URLFetcher)?
    var sandbox = SandboxSettings()
    /// Nil: RUN output goes to gvmc's standard output and error.
    var events: (any StepEvents)?
    /// Warnings, shown even when progress is not.
    var warn: (String) -> Void = { message in
        let line = Array(("warning: " + message + "\n").utf8)
        _ = line.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
    }

    init(buildContext: BuildContext, workDirectory: String) {
        self.buildContext = buildContext
        self.workDirectory = workDirectory
    }

    /// The tree of image `ref` (for the build's platform) that COPY --from=<image> and bind mounts read.
    func imageRoot(_ ref: String) throws(ExecutorError) -> String {
        if let root = imageRoots[ref] { return root }
        do {
            guard let images else { throw ExecutorError("no image source configured for \(ref)") }
            imageRoots[ref] = try images.tree(ref, platform: nil)
        } catch {
            throw ExecutorError("COPY --from=\(ref)", cause: error)
        }
        return imageRoots[ref]!
    }

    /// A private directory for one step's files (0700; the caller removes it after the step).
    func scratchDirectory(_ what: String) throws(ExecutorError) -> String {
        guard let made = makeTemporaryDirectory(workDirectory + "/\(what)-XXXXXX") else { throw .errno("mkdtemp", workDirectory) }
        return made
    }

    /// Unpacks `path` into a private directory when libarchive reads it as a tar archive; nil
    /// when it is not one (it is then copied as a file, as Docker does). The unpacking is the
    /// layer code's: entries cannot leave the directory.
    func unpackArchive(_ path: String, name: String) throws(ExecutorError) -> String? {
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
            throw ExecutorError("ADD failed", cause: error)
        }
        return dir
    }
}
