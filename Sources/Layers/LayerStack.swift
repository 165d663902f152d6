// An image's layers, flattened: pass 1 reads every header (and checks every blob's digest) to
// compute the final tree; pass 2 reads only the layers that still hold final file contents and
// writes each such file once — into the squashfs writer (no unpacking to disk) or a directory.
import CSystem
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// One layer blob on disk and the digest it must have.
public struct LayerFile: Sendable {
    public var path: String
    /// `sha256:...` of the (compressed) blob; nil when it is not checked.
    public var digest: String?
    /// What errors call it; default "layer <digest or path>".
    public var label: String?
    public init(path: String, digest: String?, label: String? = nil) { self.path = path; self.digest = digest; self.label = label }
    var name: String { label ?? digest.map { "layer \($0)" } ?? "layer \(path)" }
}

/// An image's layers flattened into one tree (pass 1), ready to be written out (pass 2).
public struct FlattenedImage {
    public let tree: LayerTree
    public let layers: [LayerFile]

    /// Pass 1: headers of every layer, bottom to top; each blob's digest is verified.
    public init(layers: [LayerFile]) throws(LayerError) {
        var tree = LayerTree()
        for (i, layer) in layers.enumerated() {
            let reader = try TarReader(path: layer.path, name: layer.name)
            try tree.apply(reader, layer: i, name: layer.name)
            let digest = try reader.finish()
            if let expected = layer.digest, expected != digest {
                throw LayerError("\(layer.name): content digest is \(digest); the blob is corrupt or was tampered with")
            }
        }
        self.tree = tree
        self.layers = layers
    }

    /// Bytes of the final tree's regular files (each hard-linked file once): what pass 2 reads,
    /// the total of a progress bar.
    public var fileBytes: Int64 {
        tree.fileSources().values.reduce(Int64(0)) { sum, entry in
            if case .file(_, let size) = entry.node.kind { return sum + size }
            return sum
        }
    }

    /// Pass 2 helper: calls `body` for every entry that holds a final file's bytes, in layer order.
    func forEachFinalFile(_ body: ([[UInt8]], LayerNode, Int64, TarReader) throws -> Void) throws {
        let sources = tree.fileSources()
        let needed = Set(sources.keys.map(\.layer))
        for (i, layer) in layers.enumerated() where needed.contains(i) {
            let reader = try TarReader(path: layer.path, name: layer.name)
            var ordinal = -1
            while let entry = try reader.next() {
                ordinal += 1
                guard let (path, node) = sources[DataSource(layer: i, entry: ordinal)] else { continue }
                guard case .file(_, let size) = node.kind, entry.kind == .file, entry.size == size else {
                    throw LayerError("\(layer.name): entry \"\(entry.pathString)\" changed between two reads of the blob")
                }
                try body(path, node, size, reader)
            }
        }
    }

    static func entryPath(_ components: [[UInt8]]) throws -> EntryPath {
        var bytes: [UInt8] = []
        for (i, c) in components.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: "/")) }
            bytes += c
        }
        return try EntryPath(bytes)
    }

    /// Writes the tree into a squashfs image being built.
    public func write(to writer: SquashFSWriter) throws {
        if writer.options.deduplicate && writer.sharedSizes == nil {
            // Only files whose size another file has can be duplicates (hard links counted once).
            writer.setSharedSizes(
                fileSizes: tree.fileSources().values.compactMap { entry -> UInt64? in
                    if case .file(_, let size) = entry.node.kind { return UInt64(size) }
                    return nil
                })
        }
        try forEachFinalFile { path, node, size, reader in
            var remaining = size
            try writer.addFile(try FlattenedImage.entryPath(path), metadata: node.metadata, size: UInt64(size)) { buffer in
                guard remaining > 0 else { return 0 }
                let want = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), remaining))])
                let n = try reader.read(into: want)
                guard n > 0 else {
                    throw LayerError("\(reader.name): entry \"\(String(decoding: path.last ?? [], as: UTF8.self))\" is truncated")
                }
                remaining -= Int64(n)
                return n
            }
        }
        try writer.add(try EntryPath([]), .directory, metadata: tree.root.metadata)
        try tree.walk { path, node, first in
            let p = try FlattenedImage.entryPath(path)
            if let first { try writer.addHardlink(p, target: try FlattenedImage.entryPath(first)); return }
            switch node.kind {
            case .directory: try writer.add(p, .directory, metadata: node.metadata)
            case .file: break
            case .symlink(let t): try writer.add(p, .symlink(target: t), metadata: node.metadata)
            case .characterDevice(let a, let b): try writer.add(p, .characterDevice(major: a, minor: b), metadata: node.metadata)
            case .blockDevice(let a, let b): try writer.add(p, .blockDevice(major: a, minor: b), metadata: node.metadata)
            case .fifo: try writer.add(p, .fifo, metadata: node.metadata)
            case .socket: try writer.add(p, .socket, metadata: node.metadata)
            }
        }
    }

    /// Materialises the tree under `directory` (which must exist and be empty). Everything is
    /// created fresh by this function, below directories it made itself, with O_NOFOLLOW/O_EXCL:
    /// no entry can reach outside `directory`. `progress` gets the file bytes written so far (of
    /// `fileBytes`) after each block.
    public func extract(to directory: String, progress: ((Int64) -> Void)? = nil) throws {
        func host(_ path: [[UInt8]]) -> [UInt8] {
            var bytes = Array(directory.utf8)
            for c in path { bytes.append(UInt8(ascii: "/")); bytes += c }
            bytes.append(0)
            return bytes
        }
        func fail(_ op: String, _ path: [[UInt8]]) -> LayerError {
            let shown = "/" + path.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
            return LayerError(.system(subject: shown, operation: op, errno: errno))
        }
        // Directories first (private until their final modes are set at the end).
        try tree.walk { path, node, _ in
            guard node.isDirectory else { return }
            // The pointer is used inside the closure only: the array may be freed right after it.
            let made = host(path).withUnsafeBufferPointer {
                mkdir(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), 0o700)
            }
            guard made == 0 else { throw fail("mkdir", path) }
        }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        var writer = SparseWriter()
        var unpacked: Int64 = 0
        try forEachFinalFile { path, node, size, reader in
            let h = host(path)
            let fd = h.withUnsafeBufferPointer {
                open(
                    UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self),
                    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            }
            guard fd >= 0 else { throw fail("create", path) }
            defer { close(fd) }
            let entry = { "\(reader.name): entry \"\(path.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/"))\"" }
            var written: Int64 = 0
            while written < size {
                let n = try reader.read(
                    into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<Int(min(Int64(buffer.count), size - written))]))
                guard n > 0 else { throw LayerError("\(entry()) is truncated") }
                try writer.write(fd, UnsafeRawBufferPointer(rebasing: buffer[0..<n]), at: written, what: entry)
                written += Int64(n)
                unpacked += Int64(n)
                progress?(unpacked)
            }
            // Zero blocks were skipped: the size (and any hole at the end) comes from here.
            guard ftruncate(fd, off_t(size)) == 0 else { throw fail("truncate", path) }
        }
        // Everything else, then ownership, modes, xattrs and times (directories deepest last).
        var directories: [([[UInt8]], LayerNode)] = [([], tree.root)]
        let isRoot = geteuid() == 0
        try tree.walk { path, node, first in
            let h = host(path)
            try h.withUnsafeBufferPointer { hb throws in
                let cpath = UnsafeRawPointer(hb.baseAddress!).assumingMemoryBound(to: CChar.self)
                if let first {
                    let t = host(first)
                    let rc = t.withUnsafeBufferPointer {
                        link(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), cpath)
                    }
                    guard rc == 0 else { throw fail("link", path) }
                    return
                }
                let m = node.metadata
                switch node.kind {
                case .directory: directories.append((path, node)); return
                case .file: break
                case .symlink(let target):
                    guard symlink(String(decoding: target, as: UTF8.self), cpath) == 0 else { throw fail("symlink", path) }
                case .characterDevice(let a, let b):
                    guard
                        mknod(cpath, S_IFCHR | 0o600, FlattenedImage.device(a, b)) == 0
                            || (errno == EPERM && RecordedOwner.makeDevice(cpath, block: false, major: a, minor: b) == 0)
                    else { throw fail("mknod", path) }
                case .blockDevice(let a, let b):
                    guard
                        mknod(cpath, S_IFBLK | 0o600, FlattenedImage.device(a, b)) == 0
                            || (errno == EPERM && RecordedOwner.makeDevice(cpath, block: true, major: a, minor: b) == 0)
                    else { throw fail("mknod", path) }
                case .fifo: guard mkfifo(cpath, 0o600) == 0 else { throw fail("mkfifo", path) }
                case .socket: guard mknod(cpath, S_IFSOCK | 0o600, 0) == 0 else { throw fail("mknod", path) }
                }
                try FlattenedImage.setAttributes(
                    cpath, m,
                    symlink: {
                        if case .symlink = node.kind { return true }; return false
                    }(),
                    strictXattrs: isRoot, path: path, fail: fail)
            }
        }
        for (path, node) in directories.reversed() {
            let h = host(path)
            try h.withUnsafeBufferPointer { hb throws in
                try FlattenedImage.setAttributes(
                    UnsafeRawPointer(hb.baseAddress!).assumingMemoryBound(to: CChar.self), node.metadata,
                    symlink: false, strictXattrs: isRoot, path: path, fail: fail)
            }
        }
    }

    /// glibc's makedev (a macro Swift does not import).
    static func device(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = UInt64(major), mi = UInt64(minor)
        return dev_t(((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff))
    }

    static func setAttributes(
        _ cpath: UnsafePointer<CChar>, _ m: EntryMetadata, symlink: Bool, strictXattrs: Bool, path: [[UInt8]],
        fail: (String, [[UInt8]]) -> LayerError
    ) throws {
        guard RecordedOwner.set(cpath, uid: m.uid, gid: m.gid) == 0 else { throw fail("chown", path) }
        if !symlink { guard chmod(cpath, mode_t(m.permissions)) == 0 else { throw fail("chmod", path) } }
        for x in m.xattrs {
            let rc = x.value.withUnsafeBytes { v in
                String(decoding: x.name, as: UTF8.self).withCString { gvmc_lsetxattr(cpath, $0, v.baseAddress, v.count) }
            }
            if rc != 0 && strictXattrs { throw fail("setxattr \(String(decoding: x.name, as: UTF8.self))", path) }
        }
        var times = [timespec(tv_sec: Int(m.mtime), tv_nsec: 0), timespec(tv_sec: Int(m.mtime), tv_nsec: 0)]
        guard utimensat(AT_FDCWD, cpath, &times, AT_SYMLINK_NOFOLLOW) == 0 else { throw fail("utimensat", path) }
    }
}

extension FlattenedImage {
    /// The contents of regular files of the final tree (symlinks followed inside the root); a
    /// path that is missing, not a regular file or larger than `limit` is absent from the result.
    /// Each layer involved is read once, up to the last entry needed; meant for small files such
    /// as /etc/passwd and /etc/group.
    public func readFiles(_ paths: [String], limit: Int = 16 << 20) throws -> [String: [UInt8]] {
        var wanted: [DataSource: (paths: [String], size: Int64)] = [:]
        for path in paths {
            guard let (source, size) = try regularFile(path), size <= Int64(limit) else { continue }
            wanted[source, default: ([], size)].paths.append(path)
        }
        var out: [String: [UInt8]] = [:]
        for layerIndex in Set(wanted.keys.map(\.layer)).sorted() {
            let last = wanted.keys.filter { $0.layer == layerIndex }.map(\.entry).max()!
            let layer = layers[layerIndex]
            let reader = try TarReader(path: layer.path, name: layer.name)
            var ordinal = -1
            while ordinal < last, try reader.next() != nil {
                ordinal += 1
                guard let (names, size) = wanted[DataSource(layer: layerIndex, entry: ordinal)] else { continue }
                var bytes = [UInt8](repeating: 0, count: Int(size))
                var filled = 0
                while filled < bytes.count {
                    let n = try bytes.withUnsafeMutableBytes {
                        try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: $0[filled...]))
                    }
                    if n == 0 { break }
                    filled += n
                }
                for name in names { out[name] = Array(bytes[0..<filled]) }
            }
        }
        return out
    }

    public func readFile(_ path: String, limit: Int = 16 << 20) throws -> [UInt8]? {
        try readFiles([path], limit: limit)[path]
    }

    /// Where a path's regular file is, following symlinks (relative to the link's directory).
    func regularFile(_ path: String) throws -> (DataSource, Int64)? {
        var parts = try LayerTree.components(Array(path.utf8), layer: "", entry: Array(path.utf8))
        for _ in 0...LayerTree.maxSymlinkHops {
            guard let name = parts.last,
                let parent = try? tree.resolveParent(Array(parts.dropLast()), create: false, layer: 0, context: path),
                let node = parent.children[name]
            else { return nil }
            switch node.kind {
            case .file(let source, let size):
                return (source, size)
            case .symlink(let target):
                let base = target.first == UInt8(ascii: "/") ? [] : Array(parts.dropLast())
                parts = base + target.split(separator: UInt8(ascii: "/")).map(Array.init)
                guard let last = parts.last, last != [UInt8(ascii: ".")], last != [UInt8(ascii: "."), UInt8(ascii: ".")] else { return nil }
            default:
                return nil
            }
        }
        return nil
    }
}
