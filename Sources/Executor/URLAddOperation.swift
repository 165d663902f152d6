// ADD <url>...: each URL downloaded, checked against --checksum, written with mode 0600 (or
// --chmod) and the server's Last-Modified time; not unpacked unless --unpack=true, which
// extracts a downloaded tar archive into the destination directory, as BuildKit does. Only a
// download would tell what a URL holds: the step is cached only with --checksum.
import BuildCache
import BuildPlan
import Crypto
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Where ADD of URLs downloads them (the caller's HTTP client).
public protocol URLFetcher {
    /// Downloads `url` into the open file; returns its Last-Modified time when known.
    func fetch(_ url: String, to fd: Int32) throws -> Int64?
}

/// ADD of one or more URLs.
struct URLAddOperation: FileOperation {
    let copy: CopyStep
    var users: String?

    init(copy: CopyStep) { self.copy = copy }

    /// With --checksum the operands say what the download is; without it nil (not cached).
    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String? {
        guard copy.checksum != nil else { return nil }
        var h = StepKeyHash(after: previous)
        h.add(copy.keyMaterial)
        return h.finalize()
    }

    func execute(in root: String, context: ExecutionContext) throws(ExecutorError) {
        let c = copy
        guard c.paths.allSatisfy({ $0.contains("://") }) else {
            throw ExecutorError("ADD: mixing URLs and local sources in one instruction is not supported")
        }
        if c.checksum != nil && c.paths.count != 1 { throw ExecutorError("ADD --checksum needs exactly one source") }
        let owner = try chownOwnership(in: root) ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(ExecutorError) in try ModeChange(m) }
        let destination = try scopedPath(root, normalize(c.destination))
        let intoDirectory = c.destination.hasSuffix("/") || c.paths.count > 1 || isDirectory(root + destination)
        try makeDirectories(root, intoDirectory ? destination : parentOf(destination), owner: nil)
        let scratch = try context.scratchDirectory("url")
        defer { TreeRemoval.remove(scratch) }
        for url in c.paths {
            let file = scratch + "/download"
            let fd = open(file, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw .errno("create", file) }
            let mtime: Int64?
            do {
                guard let fetcher = context.urlFetcher else { throw ExecutorError("no downloader configured for \(url)") }
                mtime = try fetcher.fetch(url, to: fd)
            } catch {
                close(fd)
                throw ExecutorError("ADD \(url)", cause: error)
            }
            close(fd)
            if let expected = c.checksum {
                let algorithm = String(expected.prefix { $0 != ":" })
                let actual = readDigest(file, algorithm: algorithm)
                guard actual == expected else {
                    throw ExecutorError("ADD \(url): checksum mismatch: expected \(expected), got \(actual ?? "?")")
                }
            }
            if c.unpack == true, let unpacked = try context.unpackArchive(file, name: url) {
                try makeDirectories(root, destination, owner: nil)
                try TreeCopy.copyContents(of: unpacked, into: root + destination, owner: c.chown == nil ? nil : owner, mode: mode)
                continue
            }
            var name = String(url.split(separator: "?").first?.split(separator: "/").last ?? "")
            if name.isEmpty || url.split(separator: "/").count <= 2 { name = "index.html" }
            // `http://host/a/..` would name the download `..`: the destination's parent.
            guard !intoDirectory || isFileName(name) else {
                throw ExecutorError("ADD \(url): \(name) is not a file name; give the destination file's name")
            }
            let target = intoDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeRemoval.remove(target)
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
}

/// The digest of a file as `algorithm:hex` (ADD --checksum: sha256, sha384 or sha512, the ones
/// BuildKit accepts), or nil when it cannot be read or the algorithm is not one of those.
func readDigest(_ path: String, algorithm: String = "sha256") -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var sha256 = SquashFS.SHA256()
    var sha384 = Crypto.SHA384()
    var sha512 = Crypto.SHA512()
    guard ["sha256", "sha384", "sha512"].contains(algorithm) else { return nil }
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
    defer { buffer.deallocate() }
    while true {
        let n = read(fd, buffer, 1 << 20)
        if n < 0 { if errno == EINTR { continue }; return nil }
        if n == 0 { break }
        let chunk = UnsafeRawBufferPointer(start: buffer, count: n)
        switch algorithm {
        case "sha384": sha384.update(bufferPointer: chunk)
        case "sha512": sha512.update(bufferPointer: chunk)
        default: sha256.update(chunk)
        }
    }
    switch algorithm {
    case "sha384": return "sha384:" + Array(sha384.finalize()).hexString
    case "sha512": return "sha512:" + Array(sha512.finalize()).hexString
    default: return "sha256:" + sha256.finalize().hexString
    }
}
