// An OCI layer (a verified blob of a remote cache) as a step cache layer: an overlay upper
// directory. `.wh.NAME` entries become overlay whiteouts (0/0 character devices), `.wh..wh..opq`
// the opaque xattr, owners and device nodes go through RecordedOwner as in every other tree the
// build makes. The blob is hostile until proven otherwise: names are relative and free of `..`,
// every parent is a directory this import made (never a symlink), a hard link names a file
// extracted before it, and overlay's and gvmc's own xattrs in the archive are dropped (they would
// steer overlayfs: redirects, metacopy).
import CSystem
import Layers
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Extracts a shared cache's OCI layer into a step cache layer, trusting nothing in the blob.
public enum LayerImport {
    /// Extracts `blob` into `directory` (existing and empty; its own attributes become those of
    /// the archive's root entry). `userXattrs`: overlay mounted with `userxattr` (a user namespace).
    public static func extract(_ blob: String, name: String, into directory: String, userXattrs: Bool) throws(CacheError) {
        let reader: TarReader
        do { reader = try TarReader(path: blob, name: name) } catch { throw CacheError(nil, cause: error) }
        let opaqueXattr = userXattrs ? "user.overlay.opaque" : "trusted.overlay.opaque"
        // Relative path → whether it is a directory made here; "" is the root.
        var made: [String: Bool] = ["": true]
        var directories: [(String, TarEntry?)] = [("", nil)]
        var opaque: Set<String> = []
        var regular: Set<String> = []
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        func host(_ relative: String) -> String { relative.isEmpty ? directory : directory + "/" + relative }
        func fail(_ what: String, _ relative: String) -> CacheError {
            CacheError("\(name): entry \"\(relative)\": \(what)")
        }
        /// Makes missing parents (0755, root's, as BuildKit does for implied directories).
        func parents(_ relative: String) throws(CacheError) {
            var current = ""
            for part in relative.split(separator: "/").dropLast() {
                current = current.isEmpty ? String(part) : current + "/" + part
                if let isDirectory = made[current] {
                    guard isDirectory else { throw fail("a parent is not a directory", relative) }
                    continue
                }
                guard mkdir(host(current), 0o755) == 0, chmod(host(current), 0o755) == 0 else {
                    throw CacheError.io("mkdir", host(current))
                }
                made[current] = true
                directories.append((current, nil))
            }
        }
        do {
            while let entry = try reader.next() {
                guard let relative = normalize(entry.path) else { throw fail("the name leaves the layer", entry.pathString) }
                let base = relative.split(separator: "/").last.map(String.init) ?? ""
                let parent = relative.split(separator: "/").dropLast().joined(separator: "/")
                if relative.isEmpty {
                    // The root's own attributes (the step may have changed them).
                    guard entry.kind == .directory else { throw fail("the root is not a directory", "/") }
                    directories[0] = ("", entry)
                    continue
                }
                try parents(relative)
                if base == ".wh..wh..opq" {
                    opaque.insert(parent)
                    continue
                }
                if base.hasPrefix(".wh.") {
                    let hidden = base.dropFirst(4)
                    guard hidden != "." && hidden != ".." else { throw fail("a whiteout of \"\(hidden)\"", relative) }
                    let target = parent.isEmpty ? String(hidden) : parent + "/" + hidden
                    guard !hidden.isEmpty, made[target] == nil else { throw fail("a whiteout of an entry of the same layer", relative) }
                    guard mknod(host(target), S_IFCHR | 0o600, 0) == 0 else { throw CacheError.io("mknod (whiteout)", host(target)) }
                    // The whiteout's time as exported (the layer round-trips exactly).
                    var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
                    guard utimensat(AT_FDCWD, host(target), &times, AT_SYMLINK_NOFOLLOW) == 0 else {
                        throw CacheError.io("utimensat", host(target))
                    }
                    made[target] = false
                    continue
                }
                let path = host(relative)
                if let isDirectory = made[relative] {
                    // A later entry for the same name replaces it (a directory only by a directory).
                    if entry.kind == .directory && isDirectory {
                        if let i = directories.firstIndex(where: { $0.0 == relative }) { directories[i].1 = entry }
                        continue
                    }
                    guard !isDirectory, unlink(path) == 0 else { throw fail("replaces a directory", relative) }
                    made[relative] = nil
                    regular.remove(relative)
                }
                switch entry.kind {
                case .directory:
                    guard mkdir(path, 0o700) == 0 else { throw CacheError.io("mkdir", path) }
                    made[relative] = true
                    directories.append((relative, entry))
                    continue
                case .file:
                    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                    guard fd >= 0 else { throw CacheError.io("create", path) }
                    defer { close(fd) }
                    var written: Int64 = 0
                    while true {
                        let n = try reader.read(into: buffer)
                        if n == 0 { break }
                        var off = 0
                        while off < n {
                            let w = write(fd, buffer.baseAddress! + off, n - off)
                            if w < 0 && errno == EINTR { continue }
                            guard w > 0 else { throw CacheError.io("write", path) }
                            off += w
                        }
                        written += Int64(n)
                    }
                    guard written == entry.size else { throw fail("truncated", relative) }
                    regular.insert(relative)
                case .hardlink:
                    guard let target = normalize(entry.linkTarget), regular.contains(target) else {
                        throw fail(
                            "a hard link to \"\(String(decoding: entry.linkTarget, as: UTF8.self))\", which is not a file of this layer",
                            relative)
                    }
                    guard link(host(target), path) == 0 else { throw CacheError.io("link", path) }
                    made[relative] = false
                    continue  // the link shares its target's attributes
                case .symlink:
                    guard symlink(String(decoding: entry.linkTarget, as: UTF8.self), path) == 0 else {
                        throw CacheError.io("symlink", path)
                    }
                case .characterDevice, .blockDevice:
                    let block = entry.kind == .blockDevice
                    let dev = DeviceNumber.make(entry.major, entry.minor)
                    guard
                        mknod(path, (block ? S_IFBLK : S_IFCHR) | 0o600, dev) == 0
                            || (errno == EPERM && RecordedOwner.makeDevice(path, block: block, major: entry.major, minor: entry.minor) == 0)
                    else {
                        throw CacheError.io("mknod", path)
                    }
                case .fifo:
                    guard mkfifo(path, 0o600) == 0 else { throw CacheError.io("mkfifo", path) }
                case .socket:
                    throw fail("a socket", relative)
                }
                made[relative] = false
                try attributes(path, entry, symlink: entry.kind == .symlink, userXattrs: userXattrs)
            }
            // The whole archive was read: its digest is the blob's (checked by the caller's download too).
            _ = try reader.finish()
        } catch let e as LayerError {
            throw CacheError(nil, cause: e)
        } catch let e as CacheError {
            throw e
        } catch {
            throw CacheError(name, cause: error)
        }
        for dir in opaque {
            guard made[dir] == true else { throw fail("an opaque marker outside a directory", dir) }
            let rc = [UInt8(ascii: "y")].withUnsafeBytes { gvmc_lsetxattr(host(dir), opaqueXattr, $0.baseAddress, 1) }
            guard rc == 0 else { throw CacheError.io("setxattr \(opaqueXattr)", host(dir)) }
        }
        // Directories last, deepest first: their times stay as the archive says.
        for (relative, entry) in directories.reversed() {
            if let entry {
                try attributes(host(relative), entry, symlink: false, userXattrs: userXattrs)
            } else {
                var times = [timespec(tv_sec: 0, tv_nsec: 0), timespec(tv_sec: 0, tv_nsec: 0)]
                if !relative.isEmpty { utimensat(AT_FDCWD, host(relative), &times, AT_SYMLINK_NOFOLLOW) }
            }
        }
    }

    /// A member name as a relative path without `.` components; nil when it is absolute after
    /// all or has `..`.
    static func normalize(_ bytes: [UInt8]) -> String? {
        let text = String(decoding: bytes, as: UTF8.self)
        var parts: [Substring] = []
        for part in text.split(separator: "/") where part != "." {
            if part == ".." { return nil }
            parts.append(part)
        }
        if text.contains("\0") { return nil }
        return parts.joined(separator: "/")
    }

    static func attributes(_ path: String, _ e: TarEntry, symlink: Bool, userXattrs: Bool) throws(CacheError) {
        guard RecordedOwner.set(path, uid: UInt32(clamping: e.uid), gid: UInt32(clamping: e.gid)) == 0 else {
            throw CacheError.io("chown", path)
        }
        if !symlink { guard chmod(path, mode_t(e.mode)) == 0 else { throw CacheError.io("chmod", path) } }
        for x in e.xattrs {
            let key = String(decoding: x.name, as: UTF8.self)
            // Overlay's own (they would steer the mount: redirects, metacopy, opaque) and gvmc's
            // records: never from an archive.
            if key.hasPrefix("trusted.overlay.") || (userXattrs && key.hasPrefix("user.overlay.")) || key.hasPrefix("user.gvmc.") {
                continue
            }
            let rc = x.value.withUnsafeBytes { gvmc_lsetxattr(path, key, $0.baseAddress, $0.count) }
            if rc != 0 && geteuid() == 0 { throw CacheError.io("setxattr \(key)", path) }
        }
        var times = [timespec(tv_sec: Int(e.mtime), tv_nsec: 0), timespec(tv_sec: Int(e.mtime), tv_nsec: 0)]
        guard utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw CacheError.io("utimensat", path) }
    }
}
