// What a stage does to its root filesystem, with every operand already expanded: the executor
// (Executor + Sandbox) carries these out without knowing Dockerfile rules.
import DockerfileInstructions
import DockerfileSyntax

/// A RUN to carry out: the command, its environment, user, network and mounts, all expanded.
public struct RunStep: Sendable, Equatable {
    /// The program and its arguments (shell-form commands already wrapped in the stage's SHELL).
    public var argv: [String]
    /// The environment of the process: image Env, build args in scope, proxy args.
    public var environment: [String]
    public var workingDirectory: String
    /// As written in USER (resolved to numbers against the rootfs when run); nil is root.
    public var user: String?
    public var network: String
    public var mounts: [RunMount]
    /// Scripts to put in the sandbox (`#!` heredocs run as files): path → content.
    public var files: [String: String]
    /// Where each mount's `from=` leads (one per mount, `.context` without `from=`), resolved
    /// when the step is planned as `COPY --from` is: the build and the step's cache key use it.
    public var mountSources: [CopyStep.Source] = []

    /// The resolved source of `mounts[index]` (a step made without the planner: `from=` read
    /// as an image, never silently as the context).
    public func mountSource(_ index: Int) -> CopyStep.Source {
        if index < mountSources.count { return mountSources[index] }
        return mounts[index].from.map { .image($0) } ?? .context
    }
}

/// A COPY or ADD to carry out: where the sources come from, the destination and the options.
public struct CopyStep: Sendable, Equatable {
    /// Where a COPY/ADD takes its sources from: the build context, an earlier stage or an image.
    public enum Source: Sendable, Equatable {
        case context
        case stage(Int)
        case image(String)
    }

    /// Whether an ADD source is a git repository (BuildKit's rule for URLs: the git:// and
    /// ssh:// schemes, scp-like git@host:path, or an http(s) path ending in .git; with an
    /// optional #ref:subdir). The one rule the executor and the step key use.
    public static func isGitSource(_ source: String) -> Bool {
        let base = source.split(separator: "#", maxSplits: 1).first.map(String.init) ?? source
        if base.hasPrefix("git://") || base.hasPrefix("ssh://") || base.hasPrefix("git@") { return true }
        return (base.hasPrefix("https://") || base.hasPrefix("http://")) && base.hasSuffix(".git")
    }
    public var source: Source
    /// Source paths (context-relative, or absolute inside the stage/image), wildcards kept.
    public var paths: [String]
    /// Inline files from heredocs: name → content (already expanded when the marker was unquoted).
    /// Each name is a file name (`isFileName`).
    public var inlineFiles: [(name: String, content: String)]
    /// Absolute destination; a trailing `/` means "a directory".
    public var destination: String
    public var chown: String?
    public var chmod: String?
    public var link: Bool
    public var parents: Bool
    public var excludes: [String]
    public var isAdd: Bool
    public var unpack: Bool?
    public var checksum: String?
    /// ADD --keep-git-dir (git sources).
    public var keepGitDir = false

    public static func == (a: CopyStep, b: CopyStep) -> Bool {
        a.source == b.source && a.paths == b.paths
            && a.inlineFiles.map { $0.name + "\0" + $0.content } == b.inlineFiles.map { $0.name + "\0" + $0.content }
            && a.destination == b.destination && a.chown == b.chown && a.chmod == b.chmod && a.link == b.link
            && a.parents == b.parents && a.excludes == b.excludes && a.isAdd == b.isAdd && a.unpack == b.unpack && a.checksum == b.checksum
            && a.keepGitDir == b.keepGitDir
    }
}

/// The kinds of step: a RUN, a COPY/ADD, or a directory to create (WORKDIR).
public enum StepKind: Sendable, Equatable {
    case run(RunStep)
    case copy(CopyStep)
    /// Create the directory (WORKDIR), owned by the user in effect.
    case makeDirectory(path: String, user: String?)
}

/// One step of a stage, with the instruction it comes from.
public struct Step: Sendable {
    public var kind: StepKind
    /// The instruction it comes from (file:line for messages).
    public var node: SyntaxNode
}

/// Whether `name` names a file inside a directory and nothing else: not empty, no `/`, not `.`
/// or `..`. A COPY/ADD heredoc's name is the name of the file it becomes in the destination
/// directory (BuildKit writes it into an empty directory and copies it from there, where a name
/// with a path in it does not exist); anything else would be a path joined onto the destination.
public func isFileName(_ name: String) -> Bool {
    !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0")
}

/// What a heredoc name must be (for errors).
public let heredocNameRule = "a heredoc's name is the name of the file it becomes: it cannot contain \"/\" or be \".\" or \"..\""

/// The bytes a step's cache key is made of: every field as its length and its bytes, in a fixed
/// order, so that two different steps never give the same bytes (a value cannot fake a field
/// boundary) and the key does not depend on how Swift prints a value. Secrets are not operands of
/// a step (only their ids and targets are), so they never reach a key.
public struct KeyMaterial: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func add(_ s: String) {
        let u = Array(s.utf8)
        bytes += Array("\(u.count):".utf8) + u
    }
    public mutating func add(_ s: String?) { if let s { add("+"); add(s) } else { add("-") } }
    public mutating func add(_ b: Bool) { add(b ? "true" : "false") }
    public mutating func add<N: BinaryInteger>(_ n: N?) { add(n.map { String($0) }) }
    public mutating func add(_ list: [String]) {
        add(String(list.count))
        for s in list { add(s) }
    }
}

extension RunStep {
    /// Everything that decides what the command does, `files` (scripts) included.
    public var keyMaterial: KeyMaterial {
        var k = KeyMaterial()
        k.add("run")
        k.add(argv)
        k.add(environment)
        k.add(workingDirectory)
        k.add(user)
        k.add(network)
        k.add(String(mounts.count))
        for m in mounts {
            k.add(m.type.rawValue); k.add(m.from); k.add(m.source); k.add(m.target); k.add(m.readOnly)
            k.add(m.sizeLimit); k.add(m.id); k.add(m.sharing?.rawValue); k.add(m.required); k.add(m.env)
            k.add(m.mode); k.add(m.uid); k.add(m.gid)
        }
        let scripts = files.sorted { $0.key < $1.key }
        k.add(String(scripts.count))
        for (path, content) in scripts { k.add(path); k.add(content) }
        return k
    }
}

extension CopyStep {
    /// The operands of the copy; what its sources hold is added by the executor, which reads them.
    public var keyMaterial: KeyMaterial {
        var k = KeyMaterial()
        k.add(isAdd ? "add" : "copy")
        switch source {
        case .context: k.add("context")
        case .stage(let i): k.add("stage"); k.add(String(i))
        case .image(let ref): k.add("image"); k.add(ref)
        }
        k.add(paths)
        k.add(String(inlineFiles.count))
        for f in inlineFiles { k.add(f.name); k.add(f.content) }
        k.add(destination); k.add(chown); k.add(chmod); k.add(link); k.add(parents); k.add(excludes)
        k.add(unpack.map { $0 ? "true" : "false" }); k.add(checksum); k.add(keepGitDir)
        return k
    }
}
