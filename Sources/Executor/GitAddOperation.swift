// ADD <git URL>[#ref[:subdir]] <dir>: a commit's tree checked out into the stage. Keyed on the
// object id the ref names when the build asks (one `ls-remote` per URL and build, as BuildKit
// does), so a branch that has not moved is not fetched again.
import BuildCache
import BuildPlan
import SquashFS

/// Credentials a git source may use.
public struct GitAccess: Sendable {
    /// For http(s) remotes: a whole Authorization header value, or a token.
    public var header: String?
    public var token: String?
    /// The SSH agent socket for SSH remotes.
    public var sshAgent: String?
}

/// Where ADD of a git repository gets it (the caller's git client).
public protocol GitRemote {
    /// The object id a git URL's branch, tag or commit names now (`git ls-remote`).
    func resolve(_ url: String, access: GitAccess) throws -> String
    /// Checks out the object `id` (what `resolve` returned) into the (existing) directory, with
    /// the `.git` directory when asked; returns the commit id and time.
    func checkout(
        _ url: String, id: String, into directory: String, keepGitDir: Bool, access: GitAccess
    ) throws -> (commit: String, time: Int64)
}

/// ADD of a git repository: the commit's tree (or the subdirectory's) is copied into the
/// destination directory, owned by root (or --chown), as BuildKit does.
struct GitAddOperation: FileOperation {
    let copy: CopyStep
    var users: String?

    init(copy: CopyStep) { self.copy = copy }

    /// Nil (not cached) unless every source is a git repository and git is available; with
    /// --checksum and other sources the operands alone (the step then fails when it runs).
    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String? {
        let git = copy.paths.allSatisfy(CopyStep.isGitSource) && context.git != nil
        if copy.checksum == nil && !git { return nil }
        var h = StepKeyHash(after: previous)
        h.add(copy.keyMaterial)
        if git { for url in copy.paths { h.add(try Self.id(url, context)) } }
        return h.finalize()
    }

    func execute(in root: String, context: ExecutionContext) throws(ExecutorError) {
        guard copy.paths.count == 1, let url = copy.paths.first, CopyStep.isGitSource(url) else {
            throw ExecutorError("ADD: a git repository must be the only source of its instruction")
        }
        guard let git = context.git else { throw ExecutorError("ADD \(url): git sources are not available here") }
        if copy.checksum != nil { throw ExecutorError("ADD --checksum \(url): pin a git source with #<commit id> instead") }
        let owner = try chownOwnership(in: root)
        let mode = try copy.chmod.map { m throws(ExecutorError) in try ModeChange(m) }
        let scratch = try context.scratchDirectory("git")
        defer { TreeRemoval.remove(scratch) }
        let id = try Self.id(url, context)
        do { _ = try git.checkout(url, id: id, into: scratch, keepGitDir: copy.keepGitDir, access: try Self.access(url, context)) } catch {
            throw ExecutorError("ADD \(url)", cause: error)
        }
        let destination = try scopedPath(root, normalize(copy.destination))
        try makeDirectories(root, destination, owner: nil)
        try TreeCopy.copyContents(of: scratch, into: root + (destination == "/" ? "" : destination), owner: owner, mode: mode)
    }

    /// The object id `url` names, asked once per build.
    static func id(_ url: String, _ context: ExecutionContext) throws(ExecutorError) -> String {
        if let id = context.gitIDs[url] { return id }
        guard let git = context.git else { throw ExecutorError("ADD \(url): git sources are not available here") }
        let granted = try Self.access(url, context)
        do {
            let id = try git.resolve(url, access: granted)
            context.gitIDs[url] = id
            return id
        } catch {
            throw ExecutorError("ADD \(url)", cause: error)
        }
    }

    /// What a git source may use: credentials from the build secrets (http), and the build's
    /// default SSH agent (`--ssh default`, as BuildKit's git source uses it).
    static func access(_ url: String, _ context: ExecutionContext) throws(ExecutorError) -> GitAccess {
        var access = GitAccess(sshAgent: context.sandbox.sshAgents["default"])
        try credentials(url, secrets: context.sandbox.secrets, into: &access)
        return access
    }

    /// Credentials for a git repository from the build secrets, as BuildKit looks them up: the
    /// first of GIT_AUTH_HEADER.<host>, GIT_AUTH_TOKEN.<host>, GIT_AUTH_HEADER, GIT_AUTH_TOKEN
    /// (<host> with its port). A header secret is the whole Authorization value; a token is sent
    /// as basic x-access-token:<token> (the transport's business), which GitHub, GitLab and Gitea
    /// accept.
    static func credentials(_ url: String, secrets: [String: String], into access: inout GitAccess) throws(ExecutorError) {
        var host = ""
        let parts = url.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        if parts.count >= 3, parts[0].hasSuffix(":"), parts[1].isEmpty {  // scheme://authority/...
            var authority = parts[2].prefix { $0 != "#" }
            if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
            host = String(authority)
        }
        for (id, isToken) in [
            ("GIT_AUTH_HEADER." + host, false), ("GIT_AUTH_TOKEN." + host, true), ("GIT_AUTH_HEADER", false), ("GIT_AUTH_TOKEN", true)
        ] {
            guard let file = secrets[id] else { continue }
            guard let text = readText(file) else { throw ExecutorError("secret \(id): cannot read \(file)") }
            let value = String(text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
            guard !value.isEmpty, !value.contains(where: \.isNewline) else { throw ExecutorError("secret \(id): not a single line") }
            if isToken { access.token = value } else { access.header = value }
            return
        }
    }
}
