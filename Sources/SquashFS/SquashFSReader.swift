// Reading a squashfs image back: the inode, directory and id tables walked for `gvmc inspect
// --list`, image lint rules and convert's post-write check. Images are untrusted (a base image,
// a downloaded .gvmi): every value read from the file is bounds-checked before it is used, every
// failed check names what and the file offset, and the walk lists each directory once.
#if canImport(Glibc)
import Glibc
#endif

/// Reads a squashfs image's tables and lists its entries, checking every value read from the file.
public final class SquashFSReader {
    public let superblock: Superblock
    let fd: Int32
    let path: String
    let compressor: BlockCompressor
    var inodeTable = MetadataTable()
    private var directoryTable = MetadataTable()
    private var ids: [UInt32] = []
    private var loaded = false

    /// The longest path listed (Linux's PATH_MAX); deeper entries are refused rather than
    /// letting a chain of directories grow every path below it without bound.
    static let maxPathLength = 4096
    /// squashfs limits from the kernel's squashfs_fs.h: entries per directory header, name length.
    static let maxEntriesPerHeader = 256
    static let maxNameLength = 256

    /// Opens the image at `path` (a regular file only) and checks its superblock.
    public init(path: String) throws(SquashFSError) {
        self.path = path
        let (fd, size) = try RegularFile.open(path)
        self.fd = fd
        do throws(SquashFSError) {
            let header = try RegularFile.read(fd, path: path, count: Format.superblockSize, at: 0)
            guard header.count == Format.superblockSize else {
                throw .corrupt(offset: 0, reason: "file of \(size) bytes is shorter than a superblock (96 bytes)")
            }
            superblock = try Superblock(header, fileSize: size)
        } catch {
            close(fd)
            throw error
        }
        compressor = BlockCompressor(options: CompressionOptions(superblock.compression), blockSize: Int(superblock.blockSize))
    }

    deinit { close(fd) }

    /// `count` bytes at `offset`, which must lie within bytes_used (checked against the file size
    /// by Superblock, so the offset fits off_t and the allocation is bounded by the file).
    func read(_ offset: UInt64, _ count: Int, what: String) throws(SquashFSError) -> [UInt8] {
        let end = superblock.bytesUsed
        guard count >= 0, offset <= end, UInt64(count) <= end - offset else {
            throw .corrupt(offset: Int(clamping: offset), reason: "\(what): \(count) bytes at \(offset) run past bytes_used (\(end))")
        }
        let out = try RegularFile.read(fd, path: path, count: count, at: offset)
        guard out.count == count else {
            throw .corrupt(offset: Int(offset) + out.count, reason: "\(what): the file ends before bytes_used")
        }
        return out
    }

    func loadTables() throws(SquashFSError) {
        guard !loaded else { return }
        inodeTable = try metadata(from: superblock.inodeTableStart, to: superblock.directoryTableStart, what: "inode table")
        guard let directoryEnd = superblock.directoryTableEnd else {
            throw .corrupt(offset: 72, reason: "no table follows the directory table, so its end is unknown")
        }
        directoryTable = try metadata(from: superblock.directoryTableStart, to: directoryEnd, what: "directory table")
        let idBytes = Int(superblock.idCount) * 4
        let table = try indexedTable(at: superblock.idTableStart, bytes: idBytes, what: "id table")
        guard table.count >= idBytes else {
            throw .corrupt(
                offset: Int(superblock.idTableStart),
                reason: "id table holds \(table.count / 4) ids, the superblock says \(superblock.idCount)")
        }
        ids = (0..<Int(superblock.idCount)).map { table.u32(at: $0 * 4) }
        loaded = true
    }

    /// A table stored as metadata blocks behind an index of u64 block pointers at `start` (the
    /// id and fragment tables): the blocks holding its first `bytes` bytes, decompressed.
    func indexedTable(at start: UInt64, bytes: Int, what: String) throws(SquashFSError) -> [UInt8] {
        let blocks = (bytes + Format.metadataSize - 1) / Format.metadataSize
        let index = try read(start, blocks * 8, what: "\(what) index")
        var table: [UInt8] = []
        for b in 0..<blocks {
            let blockStart = index.u64(at: b * 8)
            let header = try read(blockStart, 2, what: "\(what) block \(b)").u16(at: 0)
            // blockStart < bytes_used ≤ Int64.max (read checked it), so the sum cannot overflow.
            table += try metadata(from: blockStart, to: blockStart + 2 + UInt64(header & 0x7FFF), what: "\(what) block \(b)").bytes
        }
        return table
    }

    /// The position in the inode table of the inode `reference` (block << 16 | offset) points to.
    private func inodePosition(_ reference: UInt64, of path: [UInt8]) throws(SquashFSError) -> Int {
        let block = reference >> 16, offset = Int(reference & 0xFFFF)
        guard let base = inodeTable.blockAt[block], offset < Format.metadataSize else {
            // inodeTableStart < 2^63 and block < 2^48: the sum fits.
            throw .corrupt(
                offset: Int(clamping: superblock.inodeTableStart + block),
                reason: "inode reference \(String(reference, radix: 16)) of \(display(path)) points to no inode table block")
        }
        let i = base + offset
        guard i + 16 <= inodeTable.count else {
            throw inodeTable.corrupt(min(i, max(0, inodeTable.count - 1)), "inode of \(display(path)) lies beyond the inode table")
        }
        return i
    }

    private func id(_ index: UInt16, at position: Int) throws(SquashFSError) -> UInt32 {
        guard Int(index) < ids.count else { throw inodeTable.corrupt(position, "id index \(index) beyond the id table (\(ids.count) ids)") }
        return ids[Int(index)]
    }

    /// Every entry of the image, depth first, names in stored order. Each directory is listed
    /// once (a directory reached twice — a loop, or directories sharing entries — is refused),
    /// so the walk reads each listing byte once and is bounded by the directory table.
    public func entries() throws(SquashFSError) -> [ImageEntry] {
        var result: [ImageEntry] = []
        try walk { entry, _ throws(SquashFSError) in result.append(entry) }
        return result
    }

    /// Visits every entry as `entries()` lists them, with the position of its inode in the
    /// inode table (the same for every hard link to it).
    func walk(_ visit: (ImageEntry, Int) throws(SquashFSError) -> Void) throws(SquashFSError) {
        try loadTables()
        var listed = Set<Int>()
        // Entries still to visit, last first: (inode reference, path, type in the parent's listing).
        var pending: [(reference: UInt64, path: [UInt8], listedType: UInt16?)] = [(superblock.rootInode, [], nil)]
        while let next = pending.popLast() {
            let i = try inodePosition(next.reference, of: next.path)
            let (entry, listing) = try inode(at: i, path: next.path)
            if let listedType = next.listedType, listedType != InodeType(rawValue: inodeTable.bytes.u16(at: i))?.basic {
                throw inodeTable.corrupt(
                    i, "\(display(next.path)) is listed as type \(listedType), but its inode has type \(inodeTable.bytes.u16(at: i))")
            }
            try visit(entry, i)
            guard let listing else { continue }
            guard listed.insert(i).inserted else {
                throw inodeTable.corrupt(i, "directory \(display(next.path)) is reached a second time (directories loop or share entries)")
            }
            guard listed.count <= Int(superblock.inodes) else {
                throw inodeTable.corrupt(i, "more directories than the superblock's \(superblock.inodes) inodes")
            }
            let children = try self.children(listing, of: next.path)
            for child in children.reversed() {
                let childPath = next.path + [UInt8(ascii: "/")] + child.name
                guard childPath.count <= Self.maxPathLength else {
                    throw directoryTable.corrupt(
                        child.position, "path \(display(childPath.prefix(64)))… is longer than \(Self.maxPathLength) bytes")
                }
                pending.append((child.reference, childPath, child.type))
            }
        }
    }

    /// Where a directory's listing lies in the directory table.
    private struct Listing { var start: Int; var end: Int }

    /// Decodes the inode at position `i` of the inode table; a directory also gives its listing.
    private func inode(at i: Int, path: [UInt8]) throws(SquashFSError) -> (ImageEntry, Listing?) {
        let t = inodeTable.bytes
        let type = t.u16(at: i)
        var entry = ImageEntry(
            rawPath: path.isEmpty ? [UInt8(ascii: "/")] : path, kind: .file,
            permissions: t.u16(at: i + 2) & 0o7777, uid: try id(t.u16(at: i + 4), at: i + 4),
            gid: try id(t.u16(at: i + 6), at: i + 6), mtime: t.u32(at: i + 8), size: 0, nlink: 1,
            inodeNumber: t.u32(at: i + 12))
        let body = i + 16
        func need(_ n: Int) throws(SquashFSError) {
            guard n <= t.count - body else {
                throw inodeTable.corrupt(i, "inode of \(display(path)) is cut off by the end of the inode table")
            }
        }
        switch type {
        case 1, 8:
            entry.kind = .directory
            let startBlock: UInt32, offset: Int, listingSize: Int
            if type == 1 {
                try need(16)
                startBlock = t.u32(at: body); entry.nlink = t.u32(at: body + 4)
                listingSize = Int(t.u16(at: body + 8)); offset = Int(t.u16(at: body + 10))
            } else {
                try need(24)
                entry.nlink = t.u32(at: body); listingSize = Int(t.u32(at: body + 4)); startBlock = t.u32(at: body + 8)
                offset = Int(t.u16(at: body + 18))
            }
            entry.size = UInt64(listingSize)
            // The stored size counts 3 bytes for the implicit "." and "..".
            guard listingSize >= 3 else { throw inodeTable.corrupt(i, "directory \(display(path)) has size \(listingSize), less than 3") }
            guard let base = directoryTable.blockAt[UInt64(startBlock)], offset < Format.metadataSize else {
                throw inodeTable.corrupt(
                    i, "directory \(display(path)) points to no directory block (start \(startBlock), offset \(offset))")
            }
            let start = base + offset
            guard listingSize - 3 <= directoryTable.count - start else {
                throw inodeTable.corrupt(i, "listing of \(display(path)) (\(listingSize - 3) bytes) runs past the directory table")
            }
            return (entry, Listing(start: start, end: start + listingSize - 3))
        case 2:
            try need(16)
            entry.size = UInt64(t.u32(at: body + 12))
        case 9:
            try need(40)
            entry.size = t.u64(at: body + 8); entry.nlink = t.u32(at: body + 24)
        case 3, 10:
            try need(8)
            entry.kind = .symlink
            entry.nlink = t.u32(at: body)
            let length = Int(t.u32(at: body + 4))
            guard length <= Self.maxPathLength else {
                throw inodeTable.corrupt(i, "symlink \(display(path)) has a \(length)-byte target, longer than \(Self.maxPathLength)")
            }
            try need(8 + length)
            entry.rawSymlinkTarget = Array(t[(body + 8)..<(body + 8 + length)])
            entry.size = UInt64(length)
        case 4, 5, 11, 12:
            try need(8)
            entry.kind = (type == 4 || type == 11) ? .blockDevice : .characterDevice
            entry.nlink = t.u32(at: body)
            let rdev = t.u32(at: body + 4)
            entry.device = ((rdev & 0xFFF00) >> 8, (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00))
        case 6, 7, 13, 14:
            try need(4)
            entry.kind = (type == 6 || type == 13) ? .fifo : .socket
            entry.nlink = t.u32(at: body)
        default:
            throw inodeTable.corrupt(i, "unknown inode type \(type) at \(display(path))")
        }
        return (entry, nil)
    }

    /// The entries of one directory listing: headers of up to 256 entries sharing an inode
    /// block, each entry an offset, type and name. Names must be valid file names in strictly
    /// ascending byte order (the kernel's lookup depends on it; it also rules out duplicates).
    private func children(
        _ listing: Listing, of path: [UInt8]
    ) throws(SquashFSError)
        -> [(reference: UInt64, name: [UInt8], type: UInt16, position: Int)]
    {
        let d = directoryTable.bytes
        var result: [(reference: UInt64, name: [UInt8], type: UInt16, position: Int)] = []
        var p = listing.start
        while p < listing.end {
            guard listing.end - p >= 12 else {
                throw directoryTable.corrupt(p, "directory header in \(display(path)) is cut off by the listing's end")
            }
            let count = Int(d.u32(at: p)) + 1
            let block = UInt64(d.u32(at: p + 4))
            guard count <= Self.maxEntriesPerHeader else {
                throw directoryTable.corrupt(
                    p, "directory header in \(display(path)) counts \(count) entries (at most \(Self.maxEntriesPerHeader))")
            }
            p += 12
            for _ in 0..<count {
                guard listing.end - p >= 8 else {
                    throw directoryTable.corrupt(p, "entry in \(display(path)) is cut off by the listing's end")
                }
                let offset = UInt64(d.u16(at: p))
                let type = d.u16(at: p + 4)
                let nameLength = Int(d.u16(at: p + 6)) + 1
                guard nameLength <= Self.maxNameLength, nameLength <= listing.end - p - 8 else {
                    throw directoryTable.corrupt(p, "name of \(nameLength) bytes in \(display(path)) runs past the listing's end")
                }
                let name = Array(d[(p + 8)..<(p + 8 + nameLength)])
                guard !name.contains(UInt8(ascii: "/")), !name.contains(0), name != [0x2E], name != [0x2E, 0x2E] else {
                    throw directoryTable.corrupt(p, "\(display(path)) holds the invalid name \(display(name))")
                }
                if let last = result.last, !last.name.lexicographicallyPrecedes(name) {
                    throw directoryTable.corrupt(p, "names in \(display(path)) are duplicated or out of order at \(display(name))")
                }
                result.append((block << 16 | offset, name, type, p))
                p += 8 + nameLength
            }
        }
        return result
    }

    /// A path or name for an error message, with control characters escaped.
    func display<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        bytes.isEmpty ? "/" : String(decoding: bytes, as: UTF8.self).debugDescription
    }
}
