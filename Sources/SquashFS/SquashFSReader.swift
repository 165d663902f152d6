// Reading a squashfs image back: superblock validation, and a walk over the inode and directory
// tables for `gvmc inspect --list` and image checks. Every failed check names what and where.
#if canImport(Glibc)
import Glibc
#endif

public struct Superblock: Sendable {
    public var inodes: UInt32
    public var mkfsTime: UInt32
    public var blockSize: UInt32
    public var fragments: UInt32
    public var compression: Compression
    public var flags: UInt16
    public var idCount: UInt16
    public var rootInode: UInt64
    public var bytesUsed: UInt64
    public var idTableStart: UInt64
    public var xattrIdTableStart: UInt64
    public var inodeTableStart: UInt64
    public var directoryTableStart: UInt64
    public var fragmentTableStart: UInt64
    public var lookupTableStart: UInt64

    /// Parses and sanity-checks the 96-byte superblock against the file size.
    public init(_ b: [UInt8], fileSize: UInt64) throws(SquashFSError) {
        guard b.count >= Format.superblockSize else { throw .corrupt(offset: 0, reason: "file is shorter than a superblock") }
        guard b.u32(at: 0) == Format.magic else {
            throw .corrupt(offset: 0, reason: "bad magic \(String(b.u32(at: 0), radix: 16)) (expected 73717368, \"hsqs\")")
        }
        guard b.u16(at: 28) == 4, b.u16(at: 30) == 0 else {
            throw .corrupt(offset: 28, reason: "version \(b.u16(at: 28)).\(b.u16(at: 30)) is not 4.0")
        }
        inodes = b.u32(at: 4); mkfsTime = b.u32(at: 8); blockSize = b.u32(at: 12); fragments = b.u32(at: 16)
        guard let c = Compression(id: b.u16(at: 20)) else {
            throw .corrupt(offset: 20, reason: "unknown compressor id \(b.u16(at: 20))")
        }
        compression = c
        let blockLog = b.u16(at: 22)
        guard blockSize >= 4096, blockSize <= 1 << 20, blockLog < 32, 1 << blockLog == blockSize else {
            throw .corrupt(offset: 12, reason: "block size \(blockSize) does not match block_log \(blockLog)")
        }
        flags = b.u16(at: 24); idCount = b.u16(at: 26)
        rootInode = b.u64(at: 32); bytesUsed = b.u64(at: 40); idTableStart = b.u64(at: 48)
        xattrIdTableStart = b.u64(at: 56); inodeTableStart = b.u64(at: 64); directoryTableStart = b.u64(at: 72)
        fragmentTableStart = b.u64(at: 80); lookupTableStart = b.u64(at: 88)
        guard bytesUsed <= fileSize else {
            throw .corrupt(offset: 40, reason: "bytes_used \(bytesUsed) is beyond the end of the file (\(fileSize) bytes)")
        }
        guard inodeTableStart < directoryTableStart, directoryTableStart < bytesUsed, idTableStart < bytesUsed else {
            throw .corrupt(offset: 64, reason: "table offsets are out of order or beyond bytes_used")
        }
    }
}

/// One entry of an image, as `unsquashfs -lls` lists it.
public struct ImageEntry: Sendable {
    public enum Kind: String, Sendable { case directory, file, symlink, blockDevice, characterDevice, fifo, socket }
    public var path: String
    public var kind: Kind
    public var permissions: UInt16
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: UInt32
    public var size: UInt64
    public var symlinkTarget: String?
    public var device: (major: UInt32, minor: UInt32)?
    public var nlink: UInt32
    public var inodeNumber: UInt32

    public init(path: String, kind: Kind, permissions: UInt16, uid: UInt32, gid: UInt32, mtime: UInt32, size: UInt64,
                symlinkTarget: String? = nil, device: (major: UInt32, minor: UInt32)? = nil, nlink: UInt32 = 1,
                inodeNumber: UInt32 = 0) {
        self.path = path; self.kind = kind; self.permissions = permissions; self.uid = uid; self.gid = gid
        self.mtime = mtime; self.size = size; self.symlinkTarget = symlinkTarget; self.device = device
        self.nlink = nlink; self.inodeNumber = inodeNumber
    }
}

public final class SquashFSReader {
    public let superblock: Superblock
    let fd: Int32
    let path: String
    let compressor: BlockCompressor
    private var inodeTable: [UInt8] = []
    private var inodeBlockMap: [UInt64: Int] = [:]
    private var directoryTable: [UInt8] = []
    private var directoryBlockMap: [UInt64: Int] = [:]
    private var ids: [UInt32] = []

    public init(path: String) throws(SquashFSError) {
        self.path = path
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        self.fd = fd
        var st = stat()
        fstat(fd, &st)
        var header = [UInt8](repeating: 0, count: Format.superblockSize)
        let n = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, Format.superblockSize, 0) }
        guard n == Format.superblockSize else {
            close(fd)
            throw .corrupt(offset: 0, reason: "file is shorter than a superblock")
        }
        do {
            superblock = try Superblock(header, fileSize: UInt64(st.st_size))
        } catch {
            close(fd)
            throw error
        }
        compressor = BlockCompressor(options: CompressionOptions(superblock.compression), blockSize: Int(superblock.blockSize))
    }

    deinit { close(fd) }

    func read(_ offset: UInt64, _ count: Int) throws(SquashFSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n == count else { throw .corrupt(offset: Int(offset), reason: "unexpected end of file reading \(count) bytes") }
        return out
    }

    /// Decompresses the metadata blocks in [start, end), mapping each block's offset to its
    /// position in the result.
    func metadata(from start: UInt64, to end: UInt64) throws(SquashFSError) -> ([UInt8], [UInt64: Int]) {
        var out: [UInt8] = []
        var map: [UInt64: Int] = [:]
        var pos = start
        let raw = try read(start, Int(end - start))
        while pos < end {
            let i = Int(pos - start)
            guard i + 2 <= raw.count else { throw .corrupt(offset: Int(pos), reason: "truncated metadata block header") }
            let header = raw.u16(at: i)
            let length = Int(header & 0x7FFF)
            guard length > 0, i + 2 + length <= raw.count else {
                throw .corrupt(offset: Int(pos), reason: "metadata block of \(length) bytes runs past its table")
            }
            map[pos - start] = out.count
            let body = Array(raw[(i + 2)..<(i + 2 + length)])
            if header & Format.metadataUncompressed != 0 {
                out += body
            } else {
                var buffer = [UInt8](repeating: 0, count: Format.metadataSize)
                let n = body.withUnsafeBytes { src in buffer.withUnsafeMutableBytes { compressor.decompress(src, into: $0) } }
                guard let n else { throw .corrupt(offset: Int(pos), reason: "metadata block does not decompress with \(superblock.compression.rawValue)") }
                out += buffer[0..<n]
            }
            pos += UInt64(2 + length)
        }
        return (out, map)
    }

    private func loadTables() throws(SquashFSError) {
        guard inodeTable.isEmpty else { return }
        (inodeTable, inodeBlockMap) = try metadata(from: superblock.inodeTableStart, to: superblock.directoryTableStart)
        let directoryEnd = [superblock.fragmentTableStart, superblock.lookupTableStart, superblock.idTableStart,
                            superblock.xattrIdTableStart].filter { $0 != Format.invalidTable && $0 > superblock.directoryTableStart }.min()!
        (directoryTable, directoryBlockMap) = try metadata(from: superblock.directoryTableStart, to: directoryEnd)
        // The id table: an index of u64 block pointers at idTableStart.
        let blocks = (Int(superblock.idCount) * 4 + Format.metadataSize - 1) / Format.metadataSize
        let index = try read(superblock.idTableStart, blocks * 8)
        var idBytes: [UInt8] = []
        for b in 0..<blocks {
            let start = index.u64(at: b * 8)
            let header = try read(start, 2).u16(at: 0)
            let (bytes, _) = try metadata(from: start, to: start + 2 + UInt64(header & 0x7FFF))
            idBytes += bytes
        }
        guard idBytes.count >= Int(superblock.idCount) * 4 else {
            throw .corrupt(offset: Int(superblock.idTableStart), reason: "id table holds fewer than \(superblock.idCount) ids")
        }
        ids = (0..<Int(superblock.idCount)).map { idBytes.u32(at: $0 * 4) }
    }

    func inodeOffset(_ reference: UInt64) throws(SquashFSError) -> Int {
        guard let base = inodeBlockMap[reference >> 16] else {
            throw .corrupt(offset: Int(superblock.inodeTableStart + (reference >> 16)), reason: "inode reference \(String(reference, radix: 16)) points to no metadata block")
        }
        let i = base + Int(reference & 0xFFFF)
        guard i + 16 <= inodeTable.count else { throw .corrupt(offset: Int(superblock.inodeTableStart), reason: "inode beyond the inode table") }
        return i
    }

    /// Every entry of the image, depth first, names sorted as stored.
    public func entries() throws(SquashFSError) -> [ImageEntry] {
        try loadTables()
        var result: [ImageEntry] = []
        try walk(reference: superblock.rootInode, path: "", into: &result, depth: 0)
        return result
    }

    private func id(_ index: UInt16) throws(SquashFSError) -> UInt32 {
        guard Int(index) < ids.count else { throw .corrupt(offset: Int(superblock.idTableStart), reason: "id index \(index) beyond the id table") }
        return ids[Int(index)]
    }

    private func walk(reference: UInt64, path: String, into result: inout [ImageEntry], depth: Int) throws(SquashFSError) {
        guard depth < 4096 else { throw .corrupt(offset: 0, reason: "directory nesting deeper than 4096 (a loop?)") }
        let i = try inodeOffset(reference)
        let t = inodeTable
        let type = t.u16(at: i)
        var entry = ImageEntry(path: path.isEmpty ? "/" : path, kind: .file, permissions: t.u16(at: i + 2) & 0o7777,
                               uid: try id(t.u16(at: i + 4)), gid: try id(t.u16(at: i + 6)), mtime: t.u32(at: i + 8),
                               size: 0, nlink: 1, inodeNumber: t.u32(at: i + 12))
        let body = i + 16
        func need(_ n: Int) throws(SquashFSError) {
            guard body + n <= t.count else { throw .corrupt(offset: Int(superblock.inodeTableStart), reason: "inode of \(entry.path) is truncated") }
        }
        switch type {
        case 1, 8:
            entry.kind = .directory
            let startBlock: UInt32, offset: Int, fileSize: Int
            if type == 1 {
                try need(16)
                startBlock = t.u32(at: body); entry.nlink = t.u32(at: body + 4)
                fileSize = Int(t.u16(at: body + 8)); offset = Int(t.u16(at: body + 10))
            } else {
                try need(24)
                entry.nlink = t.u32(at: body); fileSize = Int(t.u32(at: body + 4)); startBlock = t.u32(at: body + 8)
                offset = Int(t.u16(at: body + 18))
            }
            entry.size = UInt64(fileSize)
            result.append(entry)
            guard let base = directoryBlockMap[UInt64(startBlock)] else {
                throw .corrupt(offset: Int(superblock.directoryTableStart) + Int(startBlock), reason: "directory \(entry.path) points to no directory block")
            }
            var p = base + offset
            let end = p + fileSize - 3
            guard end <= directoryTable.count else { throw .corrupt(offset: Int(superblock.directoryTableStart), reason: "listing of \(entry.path) runs past the directory table") }
            while p < end {
                let count = Int(directoryTable.u32(at: p)) + 1
                let block = UInt64(directoryTable.u32(at: p + 4))
                p += 12
                for _ in 0..<count {
                    guard p + 8 <= end else { throw .corrupt(offset: Int(superblock.directoryTableStart), reason: "listing of \(entry.path) is truncated") }
                    let off = UInt64(directoryTable.u16(at: p))
                    let nameLength = Int(directoryTable.u16(at: p + 6)) + 1
                    let name = String(decoding: directoryTable[(p + 8)..<(p + 8 + nameLength)], as: UTF8.self)
                    p += 8 + nameLength
                    try walk(reference: block << 16 | off, path: path + "/" + name, into: &result, depth: depth + 1)
                }
            }
        case 2:
            try need(16)
            entry.size = UInt64(t.u32(at: body + 12))
            result.append(entry)
        case 9:
            try need(40)
            entry.size = t.u64(at: body + 8); entry.nlink = t.u32(at: body + 24)
            result.append(entry)
        case 3, 10:
            try need(8)
            entry.kind = .symlink
            entry.nlink = t.u32(at: body)
            let length = Int(t.u32(at: body + 4))
            try need(8 + length)
            entry.symlinkTarget = String(decoding: t[(body + 8)..<(body + 8 + length)], as: UTF8.self)
            entry.size = UInt64(length)
            result.append(entry)
        case 4, 5, 11, 12:
            try need(8)
            entry.kind = (type == 4 || type == 11) ? .blockDevice : .characterDevice
            entry.nlink = t.u32(at: body)
            let rdev = t.u32(at: body + 4)
            entry.device = ((rdev & 0xFFF00) >> 8, (rdev & 0xFF) | ((rdev >> 12) & 0xFFF00))
            result.append(entry)
        case 6, 7, 13, 14:
            try need(4)
            entry.kind = (type == 6 || type == 13) ? .fifo : .socket
            entry.nlink = t.u32(at: body)
            result.append(entry)
        default:
            throw .corrupt(offset: Int(superblock.inodeTableStart), reason: "unknown inode type \(type) at \(entry.path)")
        }
    }
}
