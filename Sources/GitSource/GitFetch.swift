// `ADD https://host/repo.git#ref:subdir /dest`: a shallow fetch of one commit over git's smart
// HTTP protocol (protocol v0/v1, as `git http-backend` and every forge serve it), the packfile
// kept in an unnamed file (GitPack) and checked out into a directory, with no git binary
// (BuildKit's git source).
//
//   GET  <repo>/info/refs?service=git-upload-pack   the refs (pkt-lines)
//   POST <repo>/git-upload-pack                     want <commit>, deepen 1, done → a packfile
//
// The packfile's objects (zlib streams; OFS_DELTA and REF_DELTA resolved against their bases)
// are named by their SHA-1 as git names them, so the commit the ref names is found and every
// tree and blob is checked against its id. The checkout writes regular files (0644, or 0755
// when executable), symlinks and directories (0755); submodules are fetched the same way at
// the commits the tree records. Every time is the commit's committer time. `.git` itself, for
// --keep-git-dir, is GitDirectory's.
import CZlib
import Crypto
import Foundation
import HTTPTransport
import SquashFS

/// Which ADD sources are git repositories is the plan's rule (BuildPlan's CopyStep.isGitSource).
public enum GitFetch {

    /// An ADD source split as BuildKit splits it: `<repository>#<ref>:<subdir>`.
    public struct Source: Sendable {
        public var repository: String
        /// A branch, a tag or a full commit id; nil for the default branch.
        public var ref: String?
        public var subdir: String?

        public init(_ url: String) throws {
            let parts = url.split(separator: "#", maxSplits: 1).map(String.init)
            repository = parts[0]
            if parts.count == 2 {
                let f = parts[1].split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
                ref = f[0].isEmpty ? nil : f[0]
                subdir = f.count == 2 && !f[1].isEmpty && !f[1].split(separator: "/").allSatisfy({ $0 == "." }) ? f[1] : nil
            }
            guard repository.hasPrefix("https://") || repository.hasPrefix("http://") || ssh != nil else {
                throw GitError(
                    "\(redacted(repository)): only git's smart HTTP transport (http://, https://) and SSH (ssh://, user@host:path) are supported"
                )
            }
        }

        /// Where an SSH URL points; nil for http(s).
        var ssh: SSHRemote? { repository.hasPrefix("http://") || repository.hasPrefix("https://") ? nil : SSHRemote(repository) }

        /// Whether the ref is a full commit id (known without asking the server).
        public var pinned: Bool { ref.map { $0.count == 40 && $0.allSatisfy(\.isHexDigit) } ?? false }
    }

    /// What the server advertises: its refs (name → object id), capabilities, and the branch
    /// HEAD points to.
    struct Advertisement {
        var refs: [String: String] = [:]
        var capabilities: Set<String> = []
        var head: String? { capabilities.first { $0.hasPrefix("symref=HEAD:") }.map { String($0.dropFirst("symref=HEAD:".count)) } }

        /// The full name and object id `ref` names: a branch, then a tag, then a full ref name
        /// (git's order); the default branch for nil. A commit id names itself (no name).
        func resolve(_ ref: String?, _ repository: String) throws -> (name: String?, id: String) {
            guard let ref else {
                guard let id = refs["HEAD"] else { throw GitError("\(redacted(repository)): the repository has no HEAD") }
                return (head.flatMap { refs[$0] == id ? $0 : nil }, id)
            }
            if ref.count == 40, ref.allSatisfy(\.isHexDigit) { return (nil, ref.lowercased()) }
            for name in ["refs/heads/" + ref, "refs/tags/" + ref, ref] {
                if let id = refs[name] { return (name, id) }
            }
            throw GitError(
                "\(redacted(repository)): no branch or tag \(ref) (the repository has \(refs.keys.filter { $0.hasPrefix("refs/heads/") || $0.hasPrefix("refs/tags/") }.count) branches and tags)"
            )
        }
    }

    static func advertisement(_ http: HTTPClient, _ repository: String, _ authorization: String?) throws -> Advertisement {
        let refsURL = repository + "/info/refs?service=git-upload-pack"
        let advert = try withRetries(refsURL) {
            try http.perform("GET", refsURL, headers: ["User-Agent: git/2.39-gvmc"] + authorizationHeader(authorization), limit: 64 << 20)
        }
        if advert.status == 401 || advert.status == 403 {
            let host =
                repository.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map {
                    String($0.split(separator: "@").last ?? $0)
                } ?? ""
            throw GitError(
                "\(redacted(repository)): HTTP \(advert.status): "
                    + (authorization == nil
                        ? "the repository needs credentials: give a token as the build secret GIT_AUTH_TOKEN.\(host) (or GIT_AUTH_HEADER.\(host) for a whole Authorization value), e.g. --secret id=GIT_AUTH_TOKEN.\(host),env=TOKEN"
                        : "the server refused the credentials from the GIT_AUTH_TOKEN / GIT_AUTH_HEADER secret"))
        }
        guard advert.status == 200 else { throw GitError("\(redacted(refsURL)): HTTP \(advert.status)") }
        // A smart server answers with its own type and a `# service=` pkt-line; a "dumb" one
        // (a plain web server over a bare repository) sends the file info/refs as it is.
        guard
            advert.header("Content-Type")?.hasPrefix("application/x-git-upload-pack-advertisement") == true
                || advert.body.count > 4 && advert.body[4...].starts(with: Array("# service=".utf8))
        else {
            throw GitError(
                "\(redacted(repository)): the server does not speak git's smart HTTP protocol (it answered info/refs as a plain file: "
                    + "a \"dumb\" HTTP server); gvmc fetches from smart HTTP servers (git http-backend, forges) and over SSH")
        }
        return try parseAdvertisement(advert.body)
    }

    /// A request to a git server, retried as the registry client retries: transport failures
    /// other than TLS trust, 429 and 5xx, `attempts` times with backoff, while `retryable` (the
    /// answer so far can be thrown away). Transport failures become readable errors.
    static func withRetries(
        _ url: String, attempts: Int = 4, retryable: () -> Bool = { true },
        _ request: () throws -> HTTPResponse
    ) throws -> HTTPResponse {
        var attempt = 0
        while true {
            attempt += 1
            do {
                let response = try request()
                guard response.status == 429 || response.status >= 500, attempt < attempts, retryable() else { return response }
            } catch let e as TransportError {
                guard !e.isPermanent, attempt < attempts, retryable() else {
                    throw GitError(.transport(url: redacted(url), cause: e, attempts: attempt))
                }
            }
            usleep(UInt32(250_000 << (attempt - 1)))
        }
    }

    /// The refs and capabilities in pkt-lines (HTTP's start with a `# service=` line).
    static func parseAdvertisement(_ body: [UInt8]) throws -> Advertisement {
        var a = Advertisement()
        for line in try pktLines(body) {
            guard let line, !line.hasPrefix("#") else { continue }
            var text = line.hasSuffix("\n") ? String(line.dropLast()) : line
            if let nul = text.firstIndex(of: "\0") {
                a.capabilities = Set(text[text.index(after: nul)...].split(separator: " ").map(String.init))
                text = String(text[..<nul])
            }
            let kv = text.split(separator: " ", maxSplits: 1).map(String.init)
            if kv.count == 2 { a.refs[kv[1]] = kv[0] }
        }
        return a
    }

    /// The object id `url`'s fragment names now (a commit, or an annotated tag): the commit id
    /// itself when the URL pins one, else one request for the server's refs (`git ls-remote`).
    /// A build keys the step on it, as BuildKit does, so an unchanged branch is not fetched again.
    public static func resolve(_ url: String, authorization: String? = nil, sshAgent: String? = nil) throws -> String {
        let source = try Source(url)
        if source.pinned, let ref = source.ref { return ref.lowercased() }
        let connection = try connect(source, authorization: authorization, sshAgent: sshAgent)
        return try connection.advertisement.resolve(source.ref, source.repository).id
    }

    /// A server's refs, and then the upload-pack request answered into a stream.
    struct Connection {
        var advertisement: Advertisement
        var fetch: (_ request: [UInt8], _ into: inout UploadPackStream) throws -> Void
    }

    static func connect(_ source: Source, authorization: String?, sshAgent: String?) throws -> Connection {
        let repository = source.repository
        guard let remote = source.ssh else {
            let http = try HTTPClient()
            return Connection(advertisement: try advertisement(http, repository, authorization)) { request, demux in
                let initial = demux
                var stream = demux
                defer { demux = stream }
                // Repeated only while no pack data has arrived (the shallow lines come again).
                let response = try withRetries(
                    repository + "/git-upload-pack",
                    retryable: {
                        guard stream.packBytes == 0 else { return false }
                        stream = initial
                        return true
                    }
                ) {
                    try http.perform(
                        "POST", repository + "/git-upload-pack",
                        headers: [
                            "Content-Type: application/x-git-upload-pack-request",
                            "Accept: application/x-git-upload-pack-result", "User-Agent: git/2.39-gvmc"
                        ]
                            + authorizationHeader(authorization),
                        body: request
                    ) { status, chunk in status == 200 ? stream.feed(chunk) : true }
                }
                guard response.status == 200 else {
                    throw GitError(
                        "\(redacted(repository))/git-upload-pack: HTTP \(response.status) \(String(decoding: response.body.prefix(200), as: UTF8.self))"
                    )
                }
            }
        }
        guard let sshAgent else {
            throw GitError(
                "git over SSH signs in with an SSH agent: build with --ssh default (the agent in $SSH_AUTH_SOCK) or --ssh default=KEYFILE")
        }
        // git's SSH transport: the server speaks first (the refs, up to a flush packet), then
        // reads the request and answers on the same connection.
        let session = try SSHSession(remote, agent: sshAgent, command: remote.uploadPack)
        var received: [UInt8] = []
        var end = -1
        while end < 0 {
            guard let chunk = try session.read() else {
                let said = session.serverMessage
                throw GitError("\(repository): \(said.isEmpty ? "the server closed the connection" : said)")
            }
            received += chunk
            var i = 0
            while i + 4 <= received.count, let n = Int(String(decoding: received[i..<i + 4], as: UTF8.self), radix: 16) {
                if n == 0 { end = i + 4; break }
                guard n >= 4, i + n <= received.count else { break }
                i += n
            }
        }
        let leftover = Array(received[end...])
        return Connection(advertisement: try parseAdvertisement(Array(received[..<end]))) { request, demux in
            try session.write(request)
            if !leftover.isEmpty, !leftover.withUnsafeBytes({ demux.feed($0) }) { return }
            while let chunk = try session.read() {
                if !chunk.withUnsafeBytes({ demux.feed($0) }) { return }
            }
            if demux.packBytes == 0, !session.serverMessage.isEmpty { throw GitError("\(repository): \(session.serverMessage)") }
        }
    }

    static func authorizationHeader(_ value: String?) -> [String] { value.map { ["Authorization: " + $0] } ?? [] }

    /// The Authorization value for a git remote: the header secret as is, or a token as basic
    /// `x-access-token:<token>` (BuildKit's form, which GitHub, GitLab and Gitea accept).
    public static func authorization(header: String?, token: String?) -> String? {
        header ?? token.map { basicAuthorization(user: "x-access-token", password: $0) }
    }

    /// Where credentials for `repository` also apply (BuildKit's scope): every repository on
    /// github.com, else the repository itself.
    static func credentialScope(_ repository: String) -> String {
        for prefix in ["https://github.com/", "https://www.github.com/"] where repository.hasPrefix(prefix) { return prefix }
        return repository
    }

    /// Whether credentials given for `repository` go to `url` too: within the scope, compared
    /// after `.` and `..` are resolved in both (as libcurl resolves them before it sends).
    static func credentialsApply(to url: String, from repository: String) -> Bool {
        let url = normalizedURL(url), scope = credentialScope(normalizedURL(repository))
        return url == scope || url.hasPrefix(scope.hasSuffix("/") ? scope : scope + "/")
    }

    /// An http(s) URL with the `.` and `..` segments of its path removed (RFC 3986 §5.2.4),
    /// percent-encoded dots counted as dots; other URLs as they are.
    static func normalizedURL(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), url.hasPrefix("http") else { return url }
        let rest = url[scheme.upperBound...]
        guard let slash = rest.firstIndex(of: "/") else { return url }
        var path = rest[slash...], query = Substring("")
        if let q = path.firstIndex(where: { $0 == "?" || $0 == "#" }) { query = path[q...]; path = path[..<q] }
        var out: [Substring] = []
        let segments = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        for (n, segment) in segments.enumerated() {
            let dots = segment.lowercased().replacingOccurrences(of: "%2e", with: ".")
            if dots == "." || dots == ".." {
                if dots == "..", !out.isEmpty { out.removeLast() }
                if n == segments.count - 1 { out.append("") }
                continue
            }
            out.append(segment)
        }
        return String(url[..<slash]) + "/" + out.joined(separator: "/") + query
    }

    /// Fetches the commit `url`'s fragment names (a branch, tag or full commit id; the default
    /// branch when absent), or the object `id` when given (what `resolve` returned), and writes
    /// its tree, or the fragment's subdirectory, into the existing directory `destination`.
    /// `keepGitDir` (without a subdirectory) adds the `.git` directory BuildKit's
    /// `--keep-git-dir` leaves: a shallow repository with HEAD detached at the commit, the
    /// fetched branch or tag as a local ref, `origin` set to the URL and an index matching the
    /// checkout. Returns the commit id and its committer time.
    /// Submodules are checked out too (`submodule`: how deep this one is).
    public static func checkout(
        _ url: String, id: String? = nil, into destination: String, keepGitDir: Bool = false,
        authorization: String? = nil, sshAgent: String? = nil, submodule: Int = 0
    ) throws -> (commit: String, time: Int64) {
        let source = try Source(url)
        let repository = source.repository
        let connection = try connect(source, authorization: authorization, sshAgent: sshAgent)
        let advert = connection.advertisement
        let resolved = try advert.resolve(source.ref, repository)
        let want = id ?? resolved.id
        // The pack.
        var request: [UInt8] = []
        let wanted = ["side-band-64k", "ofs-delta", "shallow", "no-progress", "agent=git/2.39-gvmc"].filter { c in
            advert.capabilities.contains(c) || (c.hasPrefix("agent=") && advert.capabilities.contains { $0.hasPrefix("agent=") })
        }
        request += pkt("want \(want) \(wanted.joined(separator: " "))\n")
        if advert.capabilities.contains("shallow") { request += pkt("deepen 1\n") }
        request += Array("0000".utf8) + pkt("done\n")
        // The pack goes to an unnamed file beside the checkout, not into memory.
        let packFD = try unnamedFile(in: destination)
        var demux = UploadPackStream(fd: packFD, sideBand: wanted.contains("side-band-64k"))
        do {
            try connection.fetch(request, &demux)
        } catch {
            close(packFD)
            throw demux.failure ?? error
        }
        if let failure = demux.failure { close(packFD); throw failure }
        guard demux.packBytes > 0 else { close(packFD); throw GitError("the server sent no packfile") }
        let shallow = demux.shallow
        let objects = try PackFile(fd: packFD)  // owns packFD from here on
        // Commit (through an annotated tag), tree, subdirectory.
        var commitID = want
        var commit = try object(objects, commitID, what: "commit")
        if commit.type == 4 {
            guard let target = header(commit.data, "object") else { throw GitError("tag \(want) names no object") }
            commitID = target
            commit = try object(objects, commitID, what: "commit")
        }
        guard commit.type == 1, let treeID = header(commit.data, "tree") else { throw GitError("\(want) is not a commit") }
        var time: Int64 = 0
        if let committer = header(commit.data, "committer") {
            let fields = committer.split(separator: " ")
            if fields.count >= 2 { time = Int64(fields[fields.count - 2]) ?? 0 }
        }
        var tree = treeID
        if let subdir = source.subdir {
            for component in subdir.split(separator: "/") where !component.isEmpty && component != "." {
                guard let entry = try treeEntries(objects, tree).first(where: { $0.raw == Array(component.utf8) }), entry.mode == "40000"
                else {
                    throw GitError("\(redacted(repository)): no directory \(subdir) in \(commitID)")
                }
                tree = entry.id
            }
        }
        try write(objects, tree: tree, to: destination, time: time)
        try checkoutSubmodules(
            objects, tree: treeID, subdir: source.subdir, repository: repository, into: destination,
            depth: submodule, authorization: authorization, sshAgent: sshAgent)
        if keepGitDir && source.subdir == nil {
            // The local ref BuildKit's `git fetch origin <ref>:<ref>` makes (none for a commit id).
            try GitDirectory(
                pack: objects, shallow: shallow, commit: commitID, tree: treeID,
                ref: resolved.name.map { ($0, want) }, remote: redacted(repository), time: time
            )
            .write(to: destination + "/.git")
        }
        return (commitID, time)
    }

    /// A file with no name in `directory` (O_TMPFILE; on filesystems without it, a file made and
    /// unlinked at once), gone with its last descriptor.
    static func unnamedFile(in directory: String) throws -> Int32 {
        let tmpfile: Int32 = 0o20200000  // O_TMPFILE (__O_TMPFILE | O_DIRECTORY) on Linux
        var fd = open(directory, tmpfile | O_RDWR | O_CLOEXEC, 0o600)
        if fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) {
            var template = Array((directory + "/.gvmc-pack-XXXXXX").utf8CString)
            fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
            if fd >= 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
            }
        }
        guard fd >= 0 else { throw GitError(.system(operation: "a temporary file in", path: directory, errno: errno)) }
        return fd
    }

    /// Submodules, as BuildKit's `git submodule update --init --recursive --depth=1` after its
    /// checkout: each gitlink in the checked-out tree is fetched from the URL .gitmodules gives
    /// for its path (a relative URL against the repository's) at the commit the gitlink records,
    /// and checked out in its place, recursively. Only http(s) and SSH URLs are followed.
    static func checkoutSubmodules(
        _ objects: PackFile, tree: String, subdir: String?, repository: String,
        into destination: String, depth: Int, authorization: String?, sshAgent: String?
    ) throws {
        var links: [(path: String, id: String)] = []
        func walk(_ t: String, _ prefix: String) throws {
            for e in try treeEntries(objects, t) {
                if e.mode == "40000" { try walk(e.id, prefix + e.name + "/") }
                if e.mode == "160000" { links.append((prefix + e.name, e.id)) }
            }
        }
        try walk(tree, "")
        let base = subdir.map { $0.split(separator: "/").filter { !$0.isEmpty && $0 != "." }.joined(separator: "/") + "/" } ?? ""
        links = links.filter { $0.path.hasPrefix(base) }
        guard !links.isEmpty else { return }
        guard depth < 8 else { throw GitError("\(redacted(repository)): submodules nested more than 8 deep") }
        guard let modules = try treeEntries(objects, tree).first(where: { $0.raw == Array(".gitmodules".utf8) }) else {
            throw GitError("\(redacted(repository)): \(links[0].path) is a submodule, but the repository has no .gitmodules")
        }
        let configured = parseGitModules(try object(objects, modules.id, what: ".gitmodules").data)
        for link in links {
            guard let url = configured.last(where: { $0.path == link.path })?.url else {
                throw GitError("\(redacted(repository)): .gitmodules has no url for the submodule \(link.path)")
            }
            let resolved = normalizedURL(submoduleURL(url, of: repository))
            do {
                _ = try checkout(
                    resolved + "#" + link.id, into: destination + "/" + link.path.dropFirst(base.count),
                    authorization: credentialsApply(to: resolved, from: repository) ? authorization : nil,
                    sshAgent: sshAgent, submodule: depth + 1)
            } catch {
                throw GitError(.submodule(path: link.path, url: redacted(resolved), commit: String(link.id.prefix(12)), cause: error))
            }
        }
    }

    /// The path and url of every `[submodule "name"]` section of a .gitmodules file (git's
    /// config syntax: sections, `key = value`, quoted values, # and ; comments).
    static func parseGitModules(_ data: [UInt8]) -> [(path: String, url: String)] {
        var out: [(path: String, url: String)] = []
        var path: String?, url: String?, inSection = false
        func flush() {
            if inSection, let path, let url { out.append((path, url)) }
            path = nil; url = nil
        }
        for raw in String(decoding: data, as: UTF8.self).split(whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                flush()
                inSection = line.dropFirst().trimmingCharacters(in: .whitespaces).hasPrefix("submodule")
                continue
            }
            guard inSection, let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") { value = String(value.dropFirst().dropLast()) }
            if key == "path" { path = value.hasSuffix("/") ? String(value.dropLast()) : value }
            if key == "url" { url = value }
        }
        flush()
        return out
    }

    /// A submodule URL: absolute as is; `./x` and `../x` relative to the repository's URL, as
    /// git resolves them (each `../` drops one path component, never the host).
    static func submoduleURL(_ url: String, of repository: String) -> String {
        guard url.hasPrefix("./") || url.hasPrefix("../") else { return url }
        // scp-like `user@host:path`: only the path after the colon is walked up.
        var prefix = ""
        var base = repository
        if !repository.contains("://"), let colon = repository.firstIndex(of: ":"), !repository[..<colon].contains("/") {
            prefix = String(repository[...colon])
            base = String(repository[repository.index(after: colon)...])
        }
        while base.hasSuffix("/") { base.removeLast() }
        var rest = Substring(url)
        while true {
            if rest.hasPrefix("./") {
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix("../") {
                rest = rest.dropFirst(3)
                if let slash = base.lastIndex(of: "/") {
                    if !base[..<slash].hasSuffix("/") { base = String(base[..<slash]) }
                } else if !prefix.isEmpty {
                    base = ""
                }
            } else {
                break
            }
        }
        return prefix + (base.isEmpty ? "" : base + "/") + rest
    }

    /// The URL without user:password@, as BuildKit writes it into the kept repository's config.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
            !url[scheme.upperBound..<at].contains("/")
        else { return url }
        return String(url[..<scheme.upperBound]) + url[url.index(after: at)...]
    }

    // MARK: pkt-lines

    static func pkt(_ s: String) -> [UInt8] {
        Array(String(format: "%04x", s.utf8.count + 4).utf8) + Array(s.utf8)
    }

    /// The pkt-lines of a response (nil for flush packets).
    static func pktLines(_ data: [UInt8]) throws -> [String?] {
        var out: [String?] = []
        var i = 0
        while i + 4 <= data.count {
            guard let n = Int(String(decoding: data[i..<i + 4], as: UTF8.self), radix: 16) else { throw GitError("malformed pkt-line") }
            if n == 0 { out.append(nil); i += 4; continue }
            guard n >= 4, i + n <= data.count else { throw GitError("malformed pkt-line") }
            out.append(String(decoding: data[i + 4..<i + n], as: UTF8.self))
            i += n
        }
        return out
    }
}
