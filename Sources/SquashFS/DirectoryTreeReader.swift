// Feeds a directory tree on disk to the writer: every file type, ownership, permissions, mtimes,
// xattrs, hardlinks (by device and inode), and sparse files read hole-aware (gvmc_seek_data/gvmc_seek_hole).
import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Adds a directory tree on disk to a SquashFSWriter, keeping everything squashfs can store.
public struct DirectoryTreeReader {
    public let rootPath: String
    /// Called for entries that cannot be stored exactly (e.g. xattrs outside user./trusted./security.).
    public var warn: (String) -> Void = { _ in }
    /// Owners recorded by an unprivileged build (`RecordedOwner`) replace the files' own.
    public var ownerRecords = false
    /// The owner of entries without a record (an unprivileged build outside a user namespace
    /// owns every file itself; in the image they are root's unless recorded otherwise).
    public var unrecordedOwner: (uid: UInt32, gid: UInt32)?

    public init(rootPath: String) { self.rootPath = rootPath }

    /// Adds everything under `rootPath` (and the root's own metadata) to `writer`.
    public func add(to writer: SquashFSWriter) throws {
        var st = stat()
        // The root itself may be given through a symlink; entries below it are never followed.
        guard stat(rootPath, &st) == 0 else { throw SquashFSError.io(path: rootPath, operation: "stat", errno: errno) }
        guard st.st_mode & S_IFMT == S_IFDIR else {
            throw SquashFSError.invalidTree(path: rootPath, reason: "not a directory")
        }
        var links: [DeviceInode: EntryPath] = [:]
        if writer.options.deduplicate && writer.sharedSizes == nil, let sizes = Self.fileSizes(under: rootPath) {
            writer.setSharedSizes(fileSizes: sizes)
        }
        try writer.add(try EntryPath([]), .directory, metadata: metadata(rootPath, st))
        try walk(directory: rootPath, relative: [], writer: writer, links: &links)
    }

    struct DeviceInode: Hashable { var dev: UInt64; var ino: UInt64 }

    /// The sizes more than one regular file under `root` has (hard links counted once), from a
    /// walk of the metadata alone (SquashFSWriter.sharedSizes); nil when the walk fails, so that
    /// every file is hashed.
    public static func sharedSizes(under root: String) -> Set<UInt64>? {
        guard let sizes = fileSizes(under: root) else { return nil }
        var seen = Set<UInt64>(), shared = Set<UInt64>()
        for size in sizes where !seen.insert(size).inserted { shared.insert(size) }
        return shared
    }

    /// The size of every regular file under `root` (a root given through a symlink is followed,
    /// as `add` follows it; mount points are crossed, as `add` crosses them; hard links once).
    static func fileSizes(under root: String) -> [UInt64]? {
        var path = Array(root.utf8CString)
        let tree = path.withUnsafeMutableBufferPointer { p -> UnsafeMutablePointer<FTS>? in
            var roots: [UnsafeMutablePointer<CChar>?] = [p.baseAddress, nil]
            return roots.withUnsafeMutableBufferPointer { fts_open($0.baseAddress, FTS_PHYSICAL | FTS_COMFOLLOW | FTS_NOCHDIR, nil) }
        }
        guard let tree else { return nil }
        defer { fts_close(tree) }
        var sizes: [UInt64] = [], linked = Set<DeviceInode>()
        while let entry = fts_read(tree) {
            switch Int32(entry.pointee.fts_info) {
            case FTS_DNR, FTS_ERR, FTS_NS: return nil
            case FTS_F:
                guard let st = entry.pointee.fts_statp?.pointee else { return nil }
                if st.st_nlink > 1, !linked.insert(DeviceInode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))).inserted { continue }
                sizes.append(UInt64(st.st_size))
            default: continue
            }
        }
        return errno == 0 ? sizes : nil
    }

    private func walk(
        directory: String, relative: [UInt8], writer: SquashFSWriter,
        links: inout [DeviceInode: EntryPath]
    ) throws {
        guard let dir = opendir(directory) else {
            throw SquashFSError.io(path: directory, operation: "open directory", errno: errno)
        }
        var names: [[UInt8]] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw -> [UInt8] in
                let bytes = raw.bindMemory(to: UInt8.self)
                return Array(bytes.prefix(while: { $0 != 0 }))
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            names.append(name)
        }
        closedir(dir)
        names.sort { $0.lexicographicallyPrecedes($1) }

        for name in names {
            let full = directory + "/" + String(decoding: name, as: UTF8.self)
            let fullBytes = Array(directory.utf8) + [UInt8(ascii: "/")] + name
            let rel = relative.isEmpty ? name : relative + [UInt8(ascii: "/")] + name
            let path = try EntryPath(rel)
            var st = stat()
            let rc = fullBytes.withUnsafeBufferPointer { b -> Int32 in
                var c = Array(b) + [0]
                return c.withUnsafeMutableBufferPointer {
                    lstat(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), &st)
                }
            }
            guard rc == 0 else { throw SquashFSError.io(path: full, operation: "stat", errno: errno) }
            let cpath = fullBytes + [0]
            let type = st.st_mode & S_IFMT
            if type != S_IFDIR && st.st_nlink > 1 {
                let key = DeviceInode(dev: UInt64(st.st_dev), ino: UInt64(st.st_ino))
                if let first = links[key] {
                    try writer.addHardlink(path, target: first)
                    continue
                }
                links[key] = path
            }
            var device: (block: Bool, major: UInt32, minor: UInt32)?
            let meta = try metadata(cpath, st, device: &device)
            if type == S_IFREG, let device {
                try writer.add(
                    path,
                    device.block
                        ? .blockDevice(major: device.major, minor: device.minor)
                        : .characterDevice(major: device.major, minor: device.minor), metadata: meta)
                continue
            }
            switch type {
            case S_IFDIR:
                try writer.add(path, .directory, metadata: meta)
                try walk(directory: full, relative: rel, writer: writer, links: &links)
            case S_IFREG:
                try addFile(cpath, display: full, path: path, metadata: meta, size: UInt64(st.st_size), writer: writer)
            case S_IFLNK:
                var buffer = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
                let n = cpath.withUnsafeBufferPointer { p in
                    buffer.withUnsafeMutableBufferPointer {
                        readlink(
                            UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self),
                            UnsafeMutableRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), $0.count)
                    }
                }
                guard n >= 0 else { throw SquashFSError.io(path: full, operation: "readlink", errno: errno) }
                try writer.add(path, .symlink(target: Array(buffer[0..<n])), metadata: meta)
            case S_IFCHR, S_IFBLK:
                let major = UInt32((st.st_rdev >> 8) & 0xFFF) | UInt32((st.st_rdev >> 32) & ~0xFFF)
                let minor = UInt32(st.st_rdev & 0xFF) | UInt32((st.st_rdev >> 12) & ~0xFF)
                try writer.add(
                    path,
                    type == S_IFCHR
                        ? .characterDevice(major: major, minor: minor)
                        : .blockDevice(major: major, minor: minor), metadata: meta)
            case S_IFIFO:
                try writer.add(path, .fifo, metadata: meta)
            case S_IFSOCK:
                try writer.add(path, .socket, metadata: meta)
            default:
                warn("\(full): unsupported file type, skipped")
            }
        }
    }

    private func metadata(_ path: String, _ st: stat) throws -> EntryMetadata {
        var device: (block: Bool, major: UInt32, minor: UInt32)?
        return try metadata(Array(path.utf8) + [0], st, device: &device)
    }

    private func metadata(_ cpath: [UInt8], _ st: stat, device: inout (block: Bool, major: UInt32, minor: UInt32)?) throws -> EntryMetadata
    {
        var m = EntryMetadata(
            permissions: UInt16(st.st_mode & 0o7777), uid: st.st_uid, gid: st.st_gid,
            mtime: Int64(st.st_mtim.tv_sec), xattrs: try xattrs(cpath))
        if let owner = unrecordedOwner { m.uid = owner.uid; m.gid = owner.gid }
        if ownerRecords && !m.xattrs.isEmpty {
            if let i = m.xattrs.firstIndex(where: { $0.name.elementsEqual(RecordedOwner.xattrName.utf8) }) {
                if let owner = RecordedOwner.parse(m.xattrs[i].value) { m.uid = owner.uid; m.gid = owner.gid }
                m.xattrs.remove(at: i)
            }
            if let i = m.xattrs.firstIndex(where: { $0.name.elementsEqual(RecordedOwner.deviceXattrName.utf8) }) {
                if st.st_mode & S_IFMT == S_IFREG && st.st_size == 0 { device = RecordedOwner.parseDevice(m.xattrs[i].value) }
                m.xattrs.remove(at: i)
            }
        }
        return m
    }

    private func xattrs(_ cpath: [UInt8]) throws -> [ExtendedAttribute] {
        let display = String(decoding: cpath.dropLast(), as: UTF8.self)
        return try cpath.withUnsafeBufferPointer { p throws -> [ExtendedAttribute] in
            let path = UnsafeRawPointer(p.baseAddress!).assumingMemoryBound(to: CChar.self)
            let size = gvmc_llistxattr(path, nil, 0)
            if size < 0 {
                if errno == ENOTSUP || errno == ENOSYS { return [] }
                throw SquashFSError.io(path: display, operation: "list xattrs", errno: errno)
            }
            guard size > 0 else { return [] }
            var names = [CChar](repeating: 0, count: size)
            let got = gvmc_llistxattr(path, &names, size)
            guard got >= 0 else { throw SquashFSError.io(path: display, operation: "list xattrs", errno: errno) }
            var result: [ExtendedAttribute] = []
            var start = 0
            for i in 0..<got where names[i] == 0 {
                let name = names[start..<i].map { UInt8(bitPattern: $0) }
                start = i + 1
                guard xattrPrefix(name) != nil else {
                    warn("\(display): xattr \(String(decoding: name, as: UTF8.self)) cannot be stored in squashfs, dropped")
                    continue
                }
                let cname = names[(i - name.count)...i].map { $0 }
                let vsize = cname.withUnsafeBufferPointer { gvmc_lgetxattr(path, $0.baseAddress!, nil, 0) }
                guard vsize >= 0 else { throw SquashFSError.io(path: display, operation: "read xattr", errno: errno) }
                var value = [UInt8](repeating: 0, count: vsize)
                let n = cname.withUnsafeBufferPointer { gvmc_lgetxattr(path, $0.baseAddress!, &value, vsize) }
                guard n >= 0 else { throw SquashFSError.io(path: display, operation: "read xattr", errno: errno) }
                result.append(ExtendedAttribute(name: name, value: Array(value[0..<n])))
            }
            return result
        }
    }

    private func addFile(
        _ cpath: [UInt8], display: String, path: EntryPath, metadata: EntryMetadata,
        size: UInt64, writer: SquashFSWriter
    ) throws {
        let fd = cpath.withUnsafeBufferPointer {
            open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_RDONLY | O_NOFOLLOW)
        }
        guard fd >= 0 else { throw SquashFSError.io(path: display, operation: "open", errno: errno) }
        defer { close(fd) }
        var offset: off_t = 0
        // The next data start: everything before it is a hole, read as zeros without I/O.
        var dataStart: off_t = size > 0 ? lseek(fd, 0, gvmc_seek_data) : 0
        if dataStart < 0 { dataStart = errno == ENXIO ? off_t(size) : 0 }
        var holeStart: off_t = dataStart < off_t(size) ? lseek(fd, dataStart, gvmc_seek_hole) : off_t(size)
        if holeStart < 0 { holeStart = off_t(size) }
        try writer.addFile(path, metadata: metadata, size: size) { buffer in
            if offset >= off_t(size) {
                // Probe past the end: a file that grew shows more data here.
                let n = pread(fd, buffer.baseAddress, min(buffer.count, 1), offset)
                return max(0, n)
            }
            if offset < dataStart {
                let n = min(buffer.count, Int(dataStart - offset))
                buffer.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: n)
                offset += off_t(n)
                return n
            }
            var want = min(buffer.count, Int(off_t(size) - offset))
            if offset < holeStart { want = min(want, Int(holeStart - offset)) }
            let n = pread(fd, buffer.baseAddress, want, offset)
            guard n >= 0 else { throw SquashFSError.io(path: display, operation: "read", errno: errno) }
            offset += off_t(n)
            if offset == holeStart && holeStart < off_t(size) {
                var next = lseek(fd, holeStart, gvmc_seek_data)
                if next < 0 { next = off_t(size) }
                dataStart = next
                var hole = next < off_t(size) ? lseek(fd, next, gvmc_seek_hole) : off_t(size)
                if hole < 0 { hole = off_t(size) }
                holeStart = hole
            }
            return n
        }
    }
}
