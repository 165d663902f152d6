// The squashfs 4.0 superblock as a reader checks it: every table offset is validated against the
// file before anything is read from it, so later reads need no trust in the image.

/// A squashfs 4.0 superblock, with every table offset checked against the file.
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
        guard b.count >= Format.superblockSize else {
            throw .corrupt(offset: 0, reason: "file of \(fileSize) bytes is shorter than a superblock (96 bytes)")
        }
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
        guard inodes > 0 else { throw .corrupt(offset: 4, reason: "the image has no inodes (not even its root)") }
        guard bytesUsed <= fileSize else {
            throw .corrupt(offset: 40, reason: "bytes_used \(bytesUsed) is beyond the end of the file (\(fileSize) bytes)")
        }
        guard inodeTableStart >= UInt64(Format.superblockSize), inodeTableStart < directoryTableStart else {
            throw .corrupt(
                offset: 64,
                reason:
                    "inode table start \(inodeTableStart) is not between the superblock and the directory table (\(directoryTableStart))")
        }
        // Each table lies inside bytes_used; the optional ones may be absent (all ones).
        let tables: [(name: String, field: Int, start: UInt64, optional: Bool)] = [
            ("directory table", 72, directoryTableStart, false), ("id table", 48, idTableStart, false),
            ("xattr id table", 56, xattrIdTableStart, true), ("fragment table", 80, fragmentTableStart, true),
            ("export table", 88, lookupTableStart, true)
        ]
        for t in tables where !(t.optional && t.start == Format.invalidTable) {
            guard t.start < bytesUsed else {
                throw .corrupt(offset: t.field, reason: "\(t.name) start \(t.start) is beyond bytes_used (\(bytesUsed))")
            }
        }
        guard directoryTableEnd != nil else {
            throw .corrupt(offset: 72, reason: "no table follows the directory table at \(directoryTableStart), so its end is unknown")
        }
    }

    /// Where the directory table ends: at the first table written after it (mksquashfs' order is
    /// inodes, directories, fragments, export, ids, xattrs).
    public var directoryTableEnd: UInt64? {
        [fragmentTableStart, lookupTableStart, idTableStart, xattrIdTableStart]
            .filter { $0 != Format.invalidTable && $0 > directoryTableStart }.min()
    }
}
