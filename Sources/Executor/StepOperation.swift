// A step of a stage as an operation, as BuildKit's ops are: each kind of step (COPY, ADD of a git
// repository, ADD of URLs, RUN, WORKDIR) is a type that knows what its cache key is made of and
// how it changes a root filesystem, given the build's shared ExecutionContext. The executor only
// orders them, stacks their layers and reports them.
import BuildPlan
import SquashFS

/// One step's work on a stage's root filesystem.
protocol StepOperation {
    /// The step cache key of this step's result on top of layers keyed `previous`; nil when the
    /// result cannot be known from the inputs (a download without --checksum, a source that is
    /// not cached itself): the step then runs, and so do the steps after it.
    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String?
    /// Carries the step out on the root filesystem at `root`.
    func execute(in root: String, context: ExecutionContext) throws(ExecutorError)
}

/// COPY and ADD, whichever their source: what COPY --link needs of them.
protocol FileOperation: StepOperation {
    var copy: CopyStep { get }
    /// The root filesystem whose /etc/passwd and /etc/group resolve --chown names; nil: the one
    /// copied into (COPY --link copies into a layer of its own, the stage's tree being elsewhere).
    var users: String? { get set }
}

extension FileOperation {
    /// The owner --chown names, resolved in `users` (else in `root`); nil without --chown.
    func chownOwnership(in root: String) throws(ExecutorError) -> Ownership? {
        try copy.chown.map { spec throws(ExecutorError) in
            let r = try UserDatabase(rootfs: users ?? root).resolve(spec)
            return Ownership(uid: r.uid, gid: r.gid)
        }
    }
}

extension Step {
    /// The operation that carries out this step. ADD of a git repository or of URLs is told
    /// from the sources (a git source anywhere makes it a git ADD, which refuses other sources;
    /// a URL anywhere an ADD of URLs, which refuses local ones).
    var operation: any StepOperation {
        switch kind {
        case .makeDirectory(let path, let user):
            return WorkdirOperation(path: path, user: user)
        case .run(let run):
            return RunOperation(run: run)
        case .copy(let copy):
            if copy.isAdd && copy.paths.contains(where: CopyStep.isGitSource) { return GitAddOperation(copy: copy) }
            if copy.isAdd && copy.paths.contains(where: { $0.contains("://") }) { return URLAddOperation(copy: copy) }
            return CopyOperation(copy: copy)
        }
    }
}

/// A step's cache key: SHA-256 of a format tag, the key of the layers below and the step's
/// inputs, each string followed by a zero byte. The format is shared with every cache a key
/// was ever stored in (other machines' included): changing it invalidates them all.
struct StepKeyHash {
    private var hash = SHA256()

    init(after previous: String) {
        add("gvmc step cache 2")
        add(previous)
    }

    mutating func add(_ s: String) { hash.update(Array(s.utf8) + [0]) }
    /// The step's operands (BuildPlan's canonical encoding, without a terminator).
    mutating func add(_ material: KeyMaterial) { hash.update(material.bytes) }

    mutating func finalize() -> String { hash.finalize().hexString }
}
