// `ADD https://host/repo.git#ref:subdir /dest`: a shallow fetch of one commit over git's smart
// HTTP protocol (protocol v0/v1, as `git http-backend` and every forge serve it), unpacked
// in memory and checked out into a directory, with no git binary (BuildKit's git source).
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

public struct GitError: Error, CustomStringConvertible {
    public var description: String
    init(_ d: String) { description = d }
}

public enum GitFetch {
    /// Whether an ADD source is a git repository (BuildKit's rule for URLs: the git:// scheme,
    /// or an http(s) path ending in .git, with an optional #ref:subdir).
    public static func isGitURL(_ source: String) -> Bool {
        let base = source.split(separator: "#", maxSplits: 1).first.map(String.init) ?? source
        if base.hasPrefix("git://") { return true }
        return (base.hasPrefix("https://") || base.hasPrefix("http://")) && base.hasSuffix(".git")
    }

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
            guard repository.hasPrefix("https://") || repository.hasPrefix("http://") else {
                throw GitError("\(redacted(repository)): only git's smart HTTP transport (http:// and https://) is supported")
            }
        }

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
            throw GitError("\(redacted(repository)): no branch or tag \(ref) (the repository has \(refs.keys.filter { $0.hasPrefix("refs/heads/") || $0.hasPrefix("refs/tags/") }.count) branches and tags)")
        }
    }

    static func advertisement(_ http: HTTPClient, _ repository: String, _ authorization: String?) throws -> Advertisement {
        let refsURL = repository + "/info/refs?service=git-upload-pack"
        let advert = try http.perform("GET", refsURL, headers: ["User-Agent: git/2.39-gvmc"] + authorizationHeader(authorization), limit: 64 << 20)
        if advert.status == 401 || advert.status == 403 {
            let host = repository.split(separator: "/", omittingEmptySubsequences: true).dropFirst().first.map { String($0.split(separator: "@").last ?? $0) } ?? ""
            throw GitError("\(redacted(repository)): HTTP \(advert.status): " + (authorization == nil
                ? "the repository needs credentials: give a token as the build secret GIT_AUTH_TOKEN.\(host) (or GIT_AUTH_HEADER.\(host) for a whole Authorization value), e.g. --secret id=GIT_AUTH_TOKEN.\(host),env=TOKEN"
                : "the server refused the credentials from the GIT_AUTH_TOKEN / GIT_AUTH_HEADER secret"))
        }
        guard advert.status == 200 else { throw GitError("\(redacted(refsURL)): HTTP \(advert.status)") }
        var a = Advertisement()
        for line in try pktLines(advert.body) {
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
    public static func resolve(_ url: String, authorization: String? = nil) throws -> String {
        let source = try Source(url)
        if source.pinned, let ref = source.ref { return ref.lowercased() }
        return try advertisement(try HTTPClient(), source.repository, authorization).resolve(source.ref, source.repository).id
    }

    static func authorizationHeader(_ value: String?) -> [String] { value.map { ["Authorization: " + $0] } ?? [] }

    /// Where credentials for `repository` also apply (BuildKit's scope): every repository on
    /// github.com, else the repository itself.
    static func credentialScope(_ repository: String) -> String {
        for prefix in ["https://github.com/", "https://www.github.com/"] where repository.hasPrefix(prefix) { return prefix }
        return repository
    }

    /// Fetches the commit `url`'s fragment names (a branch, tag or full commit id; the default
    /// branch when absent), or the object `id` when given (what `resolve` returned), and writes
    /// its tree, or the fragment's subdirectory, into the existing directory `destination`.
    /// `keepGitDir` (without a subdirectory) adds the `.git` directory BuildKit's
    /// `--keep-git-dir` leaves: a shallow repository with HEAD detached at the commit, the
    /// fetched branch or tag as a local ref, `origin` set to the URL and an index matching the
    /// checkout. Returns the commit id and its committer time.
    /// Submodules are checked out too (`submodule`: how deep this one is).
    public static func checkout(_ url: String, id: String? = nil, into destination: String, keepGitDir: Bool = false,
                                authorization: String? = nil, submodule: Int = 0) throws -> (commit: String, time: Int64) {
        let source = try Source(url)
        let repository = source.repository
        let http = try HTTPClient()
        let advert = try advertisement(http, repository, authorization)
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
        let response = try http.perform("POST", repository + "/git-upload-pack",
                                        headers: ["Content-Type: application/x-git-upload-pack-request",
                                                  "Accept: application/x-git-upload-pack-result", "User-Agent: git/2.39-gvmc"]
                                            + authorizationHeader(authorization),
                                        body: request, limit: 2 << 30)
        guard response.status == 200 else {
            throw GitError("\(redacted(repository))/git-upload-pack: HTTP \(response.status) \(String(decoding: response.body.prefix(200), as: UTF8.self))")
        }
        let (pack, shallow) = try packBytes(response.body, sideBand: wanted.contains("side-band-64k"))
        let reader = PackReader(pack)
        let (objects, entries) = try reader.objects()
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
                guard let entry = try treeEntries(objects, tree).first(where: { $0.name == component }), entry.mode == "40000" else {
                    throw GitError("\(redacted(repository)): no directory \(subdir) in \(commitID)")
                }
                tree = entry.id
            }
        }
        try write(objects, tree: tree, to: destination, time: time)
        try checkoutSubmodules(objects, tree: treeID, subdir: source.subdir, repository: repository, into: destination,
                               depth: submodule, authorization: authorization)
        if keepGitDir && source.subdir == nil {
            // The local ref BuildKit's `git fetch origin <ref>:<ref>` makes (none for a commit id).
            try GitDirectory(objects: objects, pack: pack, entries: entries, shallow: shallow, commit: commitID, tree: treeID,
                             ref: resolved.name.map { ($0, want) }, remote: redacted(repository), time: time)
                .write(to: destination + "/.git")
        }
        return (commitID, time)
    }

    /// Submodules, as BuildKit's `git submodule update --init --recursive --depth=1` after its
    /// checkout: each gitlink in the checked-out tree is fetched from the URL .gitmodules gives
    /// for its path (a relative URL against the repository's) at the commit the gitlink records,
    /// and checked out in its place, recursively. Only http(s) URLs are followed.
    static func checkoutSubmodules(_ objects: [String: Object], tree: String, subdir: String?, repository: String,
                                   into destination: String, depth: Int, authorization: String?) throws {
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
        guard let modules = try treeEntries(objects, tree).first(where: { $0.name == ".gitmodules" }) else {
            throw GitError("\(redacted(repository)): \(links[0].path) is a submodule, but the repository has no .gitmodules")
        }
        let configured = parseGitModules(try object(objects, modules.id, what: ".gitmodules").data)
        for link in links {
            guard let url = configured.last(where: { $0.path == link.path })?.url else {
                throw GitError("\(redacted(repository)): .gitmodules has no url for the submodule \(link.path)")
            }
            let resolved = submoduleURL(url, of: repository)
            do {
                let scope = credentialScope(repository)
                _ = try checkout(resolved + "#" + link.id, into: destination + "/" + link.path.dropFirst(base.count),
                                 authorization: resolved.hasPrefix(scope.hasSuffix("/") ? scope : scope + "/") || resolved == scope ? authorization : nil,
                                 submodule: depth + 1)
            } catch {
                throw GitError("submodule \(link.path) (\(redacted(resolved)) at \(link.id.prefix(12))): \(error)")
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
        var base = repository
        while base.hasSuffix("/") { base.removeLast() }
        var rest = Substring(url)
        while true {
            if rest.hasPrefix("./") {
                rest = rest.dropFirst(2)
            } else if rest.hasPrefix("../") {
                rest = rest.dropFirst(3)
                if let slash = base.lastIndex(of: "/"), !base[..<slash].hasSuffix("/") { base = String(base[..<slash]) }
            } else {
                break
            }
        }
        return base + "/" + rest
    }

    /// The URL without user:password@, as BuildKit writes it into the kept repository's config.
    static func redacted(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@"),
              !url[scheme.upperBound..<at].contains("/") else { return url }
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

    /// The packfile inside an upload-pack response: after the shallow lines and NAK, either
    /// side-band packets (band 1: data, 2: progress, 3: error) or the raw pack. Also returns
    /// the commits the server made shallow (whose parents it did not send).
    static func packBytes(_ data: [UInt8], sideBand: Bool) throws -> (pack: [UInt8], shallow: [String]) {
        var i = 0
        var pack: [UInt8] = []
        var shallow: [String] = []
        while i + 4 <= data.count {
            if !sideBand && data[i..<i + 4].elementsEqual(Array("PACK".utf8)) { return (Array(data[i...]), shallow) }
            guard let n = Int(String(decoding: data[i..<i + 4], as: UTF8.self), radix: 16) else { throw GitError("malformed upload-pack response") }
            if n == 0 { i += 4; continue }
            guard n >= 5, i + n <= data.count else { throw GitError("malformed upload-pack response") }
            let payload = data[i + 4..<i + n]
            i += n
            if payload.starts(with: Array("shallow ".utf8)) {
                let id = String(decoding: payload.dropFirst(8), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard id.count == 40, id.allSatisfy(\.isHexDigit) else { throw GitError("malformed upload-pack response") }
                shallow.append(id)
            } else if sideBand, let band = payload.first, !payload.starts(with: Array("NAK".utf8)), !payload.starts(with: Array("ACK".utf8)),
                      !payload.starts(with: Array("unshallow".utf8)) {
                if band == 1 { pack += payload.dropFirst() }
                if band == 3 { throw GitError("the server: \(String(decoding: payload.dropFirst(), as: UTF8.self))") }
            } else if String(decoding: payload, as: UTF8.self).hasPrefix("ERR ") {
                throw GitError("the server: \(String(decoding: payload, as: UTF8.self))")
            }
        }
        guard pack.starts(with: Array("PACK".utf8)) else { throw GitError("the server sent no packfile") }
        return (pack, shallow)
    }

    // MARK: objects

    struct Object {
        var type: Int   // 1 commit, 2 tree, 3 blob, 4 tag
        var data: [UInt8]
    }

    static func object(_ objects: [String: Object], _ id: String, what: String) throws -> Object {
        guard let o = objects[id] else { throw GitError("the server's pack lacks \(what) \(id)") }
        return o
    }

    static func header(_ data: [UInt8], _ name: String) -> String? {
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            if line.hasPrefix(name + " ") { return String(line.dropFirst(name.count + 1)) }
        }
        return nil
    }

    struct TreeEntry { var mode: String; var name: String; var id: String }

    static func treeEntries(_ objects: [String: Object], _ id: String) throws -> [TreeEntry] {
        let tree = try object(objects, id, what: "tree")
        guard tree.type == 2 else { throw GitError("\(id) is not a tree") }
        var out: [TreeEntry] = []
        let d = tree.data
        var i = 0
        while i < d.count {
            guard let space = d[i...].firstIndex(of: 0x20), let nul = d[space...].firstIndex(of: 0), nul + 21 <= d.count else {
                throw GitError("malformed tree \(id)")
            }
            let mode = String(decoding: d[i..<space], as: UTF8.self)
            let name = String(decoding: d[space + 1..<nul], as: UTF8.self)
            let oid = d[nul + 1..<nul + 21].map { String(format: "%02x", $0) }.joined()
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), name != ".git" else {
                throw GitError("tree \(id) has an entry named \"\(name)\", which no checkout writes")
            }
            out.append(TreeEntry(mode: mode, name: name, id: oid))
            i = nul + 21
        }
        return out
    }

    static func write(_ objects: [String: Object], tree: String, to directory: String, time: Int64) throws {
        var times = [timespec(tv_sec: Int(time), tv_nsec: 0), timespec(tv_sec: Int(time), tv_nsec: 0)]
        for e in try treeEntries(objects, tree) {
            let path = directory + "/" + e.name
            switch e.mode {
            case "40000":
                guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw GitError("mkdir \(path): \(String(cString: strerror(errno)))") }
                try write(objects, tree: e.id, to: path, time: time)
            case "160000":
                guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw GitError("mkdir \(path): \(String(cString: strerror(errno)))") }
            case "120000":
                let blob = try object(objects, e.id, what: "symlink")
                unlink(path)
                guard symlink(String(decoding: blob.data, as: UTF8.self), path) == 0 else {
                    throw GitError("symlink \(path): \(String(cString: strerror(errno)))")
                }
            case "100644", "100755", "100664":
                let blob = try object(objects, e.id, what: "file")
                guard blob.type == 3 else { throw GitError("\(e.id) is not a blob") }
                unlink(path)
                let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.mode == "100755" ? 0o755 : 0o644)
                guard fd >= 0 else { throw GitError("create \(path): \(String(cString: strerror(errno)))") }
                var written = 0
                while written < blob.data.count {
                    let n = blob.data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, blob.data.count - written) }
                    guard n > 0 else { close(fd); throw GitError("write \(path): \(String(cString: strerror(errno)))") }
                    written += n
                }
                fchmod(fd, e.mode == "100755" ? 0o755 : 0o644)
                close(fd)
            default:
                throw GitError("tree \(tree): entry \(e.name) has mode \(e.mode)")
            }
            utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
        }
        utimensat(AT_FDCWD, directory, &times, AT_SYMLINK_NOFOLLOW)
    }
}

/// A packfile (version 2) read into memory: every object inflated, deltas applied, named by
/// git's SHA-1 of "<type> <size>\0<content>".
struct PackReader {
    let data: [UInt8]
    init(_ d: [UInt8]) { data = d }

    /// An object's place in the pack, as a pack index (.idx) records it.
    struct Entry { var id: String; var offset: Int; var crc: UInt32 }

    /// Every object by id, and every object's id, offset and CRC-32 of its packed bytes.
    func objects() throws -> (objects: [String: GitFetch.Object], entries: [Entry]) {
        guard data.count >= 32, data.starts(with: Array("PACK".utf8)) else { throw GitError("not a packfile") }
        let version = be32(4), count = Int(be32(8))
        guard version == 2 || version == 3 else { throw GitError("packfile version \(version)") }
        // The trailer is the SHA-1 of everything before it.
        let body = data[..<(data.count - 20)]
        guard Array(Insecure.SHA1.hash(data: body)) == Array(data.suffix(20)) else { throw GitError("the packfile's checksum does not match") }
        var byOffset: [Int: GitFetch.Object] = [:]
        var byID: [String: GitFetch.Object] = [:]
        var pendingRef: [(offset: Int, base: String, delta: [UInt8])] = []
        var idAt: [Int: String] = [:]
        var starts: [Int] = []
        var i = 12
        for _ in 0..<count {
            let start = i
            starts.append(start)
            guard i < data.count else { throw GitError("truncated packfile") }
            var c = Int(data[i]); i += 1
            let type = (c >> 4) & 7
            var size = c & 15, shift = 4
            while c & 0x80 != 0 {
                guard i < data.count, shift < 60 else { throw GitError("truncated packfile") }
                c = Int(data[i]); i += 1
                size |= (c & 0x7f) << shift; shift += 7
            }
            switch type {
            case 1, 2, 3, 4:
                let (content, used) = try inflate(at: i, size: size)
                i += used
                let o = GitFetch.Object(type: type, data: content)
                byOffset[start] = o
                idAt[start] = Self.id(o)
                byID[idAt[start]!] = o
            case 6:  // OFS_DELTA: the base is `offset` bytes before this object
                guard i < data.count else { throw GitError("truncated packfile") }
                c = Int(data[i]); i += 1
                var offset = c & 0x7f
                while c & 0x80 != 0 {
                    guard i < data.count else { throw GitError("truncated packfile") }
                    c = Int(data[i]); i += 1
                    offset = ((offset + 1) << 7) | (c & 0x7f)
                }
                let (delta, used) = try inflate(at: i, size: size)
                i += used
                guard let base = byOffset[start - offset] else { throw GitError("a delta's base is missing from the packfile") }
                let o = GitFetch.Object(type: base.type, data: try Self.apply(delta, to: base.data))
                byOffset[start] = o
                idAt[start] = Self.id(o)
                byID[idAt[start]!] = o
            case 7:  // REF_DELTA: the base named by id (maybe later in the pack)
                guard i + 20 <= data.count else { throw GitError("truncated packfile") }
                let base = data[i..<i + 20].map { String(format: "%02x", $0) }.joined()
                i += 20
                let (delta, used) = try inflate(at: i, size: size)
                i += used
                pendingRef.append((start, base, delta))
            default:
                throw GitError("packfile object of type \(type)")
            }
        }
        var progress = true
        while !pendingRef.isEmpty && progress {
            progress = false
            pendingRef = try pendingRef.filter { p in
                guard let base = byID[p.base] else { return true }
                let o = GitFetch.Object(type: base.type, data: try Self.apply(p.delta, to: base.data))
                byOffset[p.offset] = o
                idAt[p.offset] = Self.id(o)
                byID[idAt[p.offset]!] = o
                progress = true
                return false
            }
        }
        guard pendingRef.isEmpty else { throw GitError("a delta's base is missing from the packfile") }
        guard i == data.count - 20 else { throw GitError("the packfile has \(data.count - 20 - i) bytes after its last object") }
        var entries: [Entry] = []
        entries.reserveCapacity(starts.count)
        for (n, start) in starts.enumerated() {
            let end = n + 1 < starts.count ? starts[n + 1] : i
            let crc = data.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress! + start, uInt(end - start))) }
            entries.append(Entry(id: idAt[start]!, offset: start, crc: crc))
        }
        return (byID, entries)
    }

    func be32(_ at: Int) -> UInt32 {
        UInt32(data[at]) << 24 | UInt32(data[at + 1]) << 16 | UInt32(data[at + 2]) << 8 | UInt32(data[at + 3])
    }

    static func id(_ o: GitFetch.Object) -> String {
        let name = ["", "commit", "tree", "blob", "tag"][o.type]
        var h = Insecure.SHA1()
        h.update(data: Array("\(name) \(o.data.count)\0".utf8))
        h.update(data: o.data)
        return h.finalize().map { String(format: "%02x", $0) }.joined()
    }

    /// Inflates the zlib stream at `at`, which must give `size` bytes; returns them and the
    /// compressed length.
    func inflate(at: Int, size: Int) throws -> ([UInt8], Int) {
        guard size <= 1 << 31 else { throw GitError("packfile object of \(size) bytes") }
        var out = [UInt8](repeating: 0, count: max(size, 1))
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw GitError("zlib") }
        defer { inflateEnd(&stream) }
        let rc: Int32 = data.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress!.assumingMemoryBound(to: Bytef.self) + at)
                stream.avail_in = uInt(input.count - at)
                stream.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(max(size, 1))
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END, Int(stream.total_out) == size else { throw GitError("a packfile object does not inflate to its size") }
        return (Array(out.prefix(size)), Int(stream.total_in))
    }

    /// git's delta format: source and target sizes, then copy (offset, length) and insert ops.
    static func apply(_ delta: [UInt8], to base: [UInt8]) throws -> [UInt8] {
        var i = 0
        func varint() throws -> Int {
            var v = 0, shift = 0
            while true {
                guard i < delta.count, shift < 60 else { throw GitError("malformed delta") }
                let c = Int(delta[i]); i += 1
                v |= (c & 0x7f) << shift; shift += 7
                if c & 0x80 == 0 { return v }
            }
        }
        guard try varint() == base.count else { throw GitError("a delta does not fit its base") }
        let size = try varint()
        var out: [UInt8] = []
        out.reserveCapacity(size)
        while i < delta.count {
            let op = Int(delta[i]); i += 1
            if op & 0x80 != 0 {
                var offset = 0, length = 0
                for bit in 0..<4 where op & (1 << bit) != 0 {
                    guard i < delta.count else { throw GitError("malformed delta") }
                    offset |= Int(delta[i]) << (8 * bit); i += 1
                }
                for bit in 0..<3 where op & (0x10 << bit) != 0 {
                    guard i < delta.count else { throw GitError("malformed delta") }
                    length |= Int(delta[i]) << (8 * bit); i += 1
                }
                if length == 0 { length = 0x10000 }
                guard offset + length <= base.count else { throw GitError("malformed delta") }
                out += base[offset..<offset + length]
            } else if op != 0 {
                guard i + op <= delta.count else { throw GitError("malformed delta") }
                out += delta[i..<i + op]; i += op
            } else {
                throw GitError("malformed delta")
            }
        }
        guard out.count == size else { throw GitError("a delta gives the wrong size") }
        return out
    }
}
