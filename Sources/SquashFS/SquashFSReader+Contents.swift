// Reading file contents back and unpacking a whole image into a directory: what `gvmc run` does
// unprivileged, where the kernel will not mount squashfs. Data blocks and fragments are
// bounds-checked as the tables are (the image is untrusted); names were checked by the walk.
#if canImport(Glibc)
import Glibc
#endif

/// What an unpack could not reproduce (device nodes need privileges a user namespace lacks).
public struct UnpackSummary: Sendable {
    public var entries = 0
    public var skippedDevices: [String] = []
}

extension SquashFSReader {
    /// Unpacks every entry under `root` (an empty directory): directories, files (holes kept),
    /// symlinks, hard links, FIFOs; owners where this process may set them, modes and mtimes.
    public func unpack(to root: String) throws(SquashFSError) -> UnpackSummary {
        var summary = UnpackSummary()
        var linked: [Int: [CChar]] = [:]
        var directories: [([CChar], ImageEntry)] = []
        let fragments = try fragmentTable()
        // Files packed one after another share fragment blocks: the last one is kept decompressed.
        var lastFragment: (index: UInt32, bytes: [UInt8])?
        try walk { entry, position throws(SquashFSError) in
            summary.entries += 1
            let isRoot = entry.rawPath == [UInt8(ascii: "/")]
            // Names are bytes (not necessarily UTF-8): the path is built and passed as bytes.
            let target: [CChar] = (Array(root.utf8) + (isRoot ? [] : entry.rawPath)).map { CChar(bitPattern: $0) } + [0]
            let display = root + escapedName(isRoot ? [] : entry.rawPath)
            func fail(_ operation: String) -> SquashFSError { .io(path: display, operation: operation, errno: errno) }
            switch entry.kind {
            case .directory:
                // Writable while it is filled; its own mode at the end.
                if !isRoot { guard mkdir(target, 0o700) == 0 else { throw fail("mkdir") } }
                directories.append((target, entry))
                return
            case .file:
                if entry.nlink > 1, let first = linked[position] {
                    guard link(first, target) == 0 else { throw fail("link") }
                    return
                }
                let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard fd >= 0 else { throw fail("create") }
                defer { close(fd) }
                try writeContents(inodeAt: position, of: entry, to: fd, path: display, fragments: fragments, lastFragment: &lastFragment)
                if entry.nlink > 1 { linked[position] = target }
            case .symlink:
                guard symlink(String(decoding: entry.rawSymlinkTarget ?? [], as: UTF8.self), target) == 0 else { throw fail("symlink") }
            case .fifo:
                guard mkfifo(target, 0o600) == 0 else { throw fail("mkfifo") }
            case .blockDevice, .characterDevice, .socket:
                let d = entry.device ?? (0, 0)
                let type = entry.kind == .blockDevice ? S_IFBLK : entry.kind == .characterDevice ? S_IFCHR : S_IFSOCK
                if mknod(target, type | 0o600, dev_t(d.major) << 8 | dev_t(d.minor & 0xFF) | dev_t(d.minor & ~0xFF) << 12) != 0 {
                    summary.skippedDevices.append(String(decoding: entry.rawPath, as: UTF8.self))
                    return
                }
            }
            Self.finish(target, entry)
        }
        // Deepest first, so a read-only directory is closed after what is inside it.
        for (path, entry) in directories.reversed() { Self.finish(path, entry) }
        return summary
    }

    /// Owner (where this process may set it), mode and mtime, without following a symlink.
    private static func finish(_ path: [CChar], _ entry: ImageEntry) {
        _ = lchown(path, entry.uid, entry.gid)
        if entry.kind != .symlink { _ = chmod(path, mode_t(entry.permissions)) }
        var times = [timespec(tv_sec: Int(entry.mtime), tv_nsec: 0), timespec(tv_sec: Int(entry.mtime), tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// The fragment table: each fragment block's file offset and stored size word.
    private func fragmentTable() throws(SquashFSError) -> [(start: UInt64, size: UInt32)] {
        let count = Int(superblock.fragments)
        guard count > 0, superblock.fragmentTableStart != UInt64.max else { return [] }
        let bytes = count * 16
        let table = try indexedTable(at: superblock.fragmentTableStart, bytes: bytes, what: "fragment table")
        guard table.count >= bytes else {
            throw .corrupt(
                offset: Int(clamping: superblock.fragmentTableStart),
                reason: "fragment table holds \(table.count / 16) entries, the superblock says \(count)")
        }
        return (0..<count).map { (table.u64(at: $0 * 16), table.u32(at: $0 * 16 + 8)) }
    }

    /// Writes a regular file's data: its full blocks, then its tail from a fragment.
    private func writeContents(
        inodeAt i: Int, of entry: ImageEntry, to fd: Int32, path: String,
        fragments: [(start: UInt64, size: UInt32)], lastFragment: inout (index: UInt32, bytes: [UInt8])?
    ) throws(SquashFSError) {
        let t = inodeTable.bytes
        let body = i + 16
        let extended = t.u16(at: i) == InodeType.extendedFile.rawValue
        let blocksStart = extended ? t.u64(at: body) : UInt64(t.u32(at: body))
        let fragment = t.u32(at: body + (extended ? 28 : 4))
        let fragmentOffset = Int(t.u32(at: body + (extended ? 32 : 8)))
        let sizesAt = body + (extended ? 40 : 16)
        let size = entry.size
        let blockSize = UInt64(superblock.blockSize)
        let hasFragment = fragment != UInt32.max
        let blockCount = Int(hasFragment ? size / blockSize : (size + blockSize - 1) / blockSize)
        guard blockCount <= (t.count - sizesAt) / 4 else {
            throw inodeTable.corrupt(i, "file \(display(entry.rawPath)) lists \(blockCount) blocks past the inode table's end")
        }
        var offset = blocksStart
        var written: UInt64 = 0
        var buffer = [UInt8](repeating: 0, count: Int(blockSize))
        for b in 0..<blockCount {
            let word = t.u32(at: sizesAt + b * 4)
            let stored = Int(word & 0xFF_FFFF)
            let length = Int(min(blockSize, size - written))
            if stored == 0 {
                // A hole: nothing stored, the file's offset moves on.
                written += UInt64(length)
                continue
            }
            let data = try read(offset, stored, what: "data block \(b) of \(display(entry.rawPath))")
            offset += UInt64(stored)
            let bytes = try block(
                data, uncompressed: word & 0x100_0000 != 0, expected: length, what: "data block \(b) of \(display(entry.rawPath))",
                buffer: &buffer)
            try put(bytes, fd: fd, at: written, path: path)
            written += UInt64(length)
        }
        if hasFragment && written < size {
            guard Int(fragment) < fragments.count else {
                throw inodeTable.corrupt(i, "file \(display(entry.rawPath)) uses fragment \(fragment) of \(fragments.count)")
            }
            let bytes: [UInt8]
            if let last = lastFragment, last.index == fragment {
                bytes = last.bytes
            } else {
                let f = fragments[Int(fragment)]
                let data = try read(f.start, Int(f.size & 0xFF_FFFF), what: "fragment \(fragment)")
                var whole = [UInt8](repeating: 0, count: Int(blockSize))
                bytes = try block(data, uncompressed: f.size & 0x100_0000 != 0, expected: nil, what: "fragment \(fragment)", buffer: &whole)
                lastFragment = (fragment, bytes)
            }
            let tail = Int(size - written)
            guard fragmentOffset <= bytes.count, tail <= bytes.count - fragmentOffset else {
                throw inodeTable.corrupt(
                    i,
                    "file \(display(entry.rawPath)) reads \(tail) bytes at \(fragmentOffset) of fragment \(fragment) (\(bytes.count) bytes)"
                )
            }
            try put(Array(bytes[fragmentOffset..<(fragmentOffset + tail)]), fd: fd, at: written, path: path)
        }
        guard ftruncate(fd, off_t(size)) == 0 else { throw .io(path: path, operation: "truncate", errno: errno) }
    }

    /// A data or fragment block as stored: decompressed unless marked uncompressed.
    private func block(
        _ data: [UInt8], uncompressed: Bool, expected: Int?, what: String, buffer: inout [UInt8]
    ) throws(SquashFSError) -> [UInt8] {
        if uncompressed { return data }
        let n = data.withUnsafeBytes { src in buffer.withUnsafeMutableBytes { compressor.decompress(src, into: $0) } }
        guard let n, expected.map({ n >= $0 }) ?? true else {
            throw .corrupt(offset: 0, reason: "\(what) does not decompress with \(superblock.compression.rawValue)")
        }
        return Array(buffer[0..<(expected ?? n)])
    }

    private func put(_ bytes: [UInt8], fd: Int32, at offset: UInt64, path: String) throws(SquashFSError) {
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io(path: path, operation: "write", errno: errno) }
            done += n
        }
    }
}
