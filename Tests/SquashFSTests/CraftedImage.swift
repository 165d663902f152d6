// Hand-laid squashfs images for the reader's hostile-input tests: uncompressed metadata blocks,
// so a test can place any inode, listing or table pointer at a known offset. Valid unless a
// test breaks it (unsquashfs lists the unbroken ones: see ReaderHostileImageTests).

struct CraftedImage {
    /// The inode table stream (one uncompressed metadata block, so at most 8 KiB).
    var inodes: [UInt8] = []
    /// The directory table stream (one uncompressed metadata block).
    var directories: [UInt8] = []
    private var nextInodeNumber: UInt32 = 1

    static func le16(_ v: UInt16) -> [UInt8] { [UInt8(v & 0xFF), UInt8(v >> 8)] }
    static func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }
    static func le64(_ v: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) } }

    private mutating func header(type: UInt16, mode: UInt16) -> (reference: UInt64, number: UInt32) {
        let reference = UInt64(inodes.count)  // block 0, offset = position
        let number = nextInodeNumber
        nextInodeNumber += 1
        inodes += Self.le16(type) + Self.le16(mode) + Self.le16(0) + Self.le16(0) + Self.le32(1_700_000_000) + Self.le32(number)
        return (reference, number)
    }

    /// A basic empty regular file.
    mutating func file() -> (reference: UInt64, number: UInt32) {
        let h = header(type: 2, mode: 0o644)
        inodes += Self.le32(0) + Self.le32(0xFFFF_FFFF) + Self.le32(0) + Self.le32(0)
        return h
    }

    /// A basic directory whose listing holds `children` (name, inode), in the order given.
    mutating func directory(
        _ children: [(name: [UInt8], inode: (reference: UInt64, number: UInt32), type: UInt16)]
    ) -> (reference: UInt64, number: UInt32) {
        let listingStart = directories.count
        if !children.isEmpty {
            let base = children.map(\.inode.number).min()!
            directories += Self.le32(UInt32(children.count - 1)) + Self.le32(0) + Self.le32(base)
            for c in children {
                directories += Self.le16(UInt16(c.inode.reference)) + Self.le16(UInt16(c.inode.number - base)) + Self.le16(c.type)
                directories += Self.le16(UInt16(c.name.count - 1)) + c.name
            }
        }
        let h = header(type: 1, mode: 0o755)
        inodes += Self.le32(0) + Self.le32(2) + Self.le16(UInt16(directories.count - listingStart + 3))
        inodes += Self.le16(UInt16(listingStart)) + Self.le32(0)
        return h
    }

    /// Where each part lands in `image(root:)`.
    struct Layout {
        var inodeTable = 96
        var directoryTable = 0
        var idBlock = 0
        var idIndex = 0
        var bytesUsed = 0
    }

    func layout() -> Layout {
        var l = Layout()
        l.directoryTable = l.inodeTable + 2 + inodes.count
        l.idBlock = l.directoryTable + 2 + directories.count
        l.idIndex = l.idBlock + 2 + 4
        l.bytesUsed = l.idIndex + 8
        return l
    }

    /// The whole image, padded to 4 KiB: superblock, inode table, directory table, one id (0).
    func image(root: UInt64) -> [UInt8] {
        let l = layout()
        var sb = Self.le32(0x7371_7368) + Self.le32(nextInodeNumber - 1) + Self.le32(1_700_000_000)
        sb += Self.le32(131_072) + Self.le32(0) + Self.le16(1) + Self.le16(17)  // gzip, block_log 17
        sb += Self.le16(1 << 4 | 1 << 9) + Self.le16(1) + Self.le16(4) + Self.le16(0)  // no fragments, no xattrs; 1 id; 4.0
        sb += Self.le64(root) + Self.le64(UInt64(l.bytesUsed)) + Self.le64(UInt64(l.idIndex))
        sb += Self.le64(~0) + Self.le64(UInt64(l.inodeTable)) + Self.le64(UInt64(l.directoryTable))
        sb += Self.le64(~0) + Self.le64(~0)
        var out = sb
        out += Self.le16(UInt16(inodes.count) | 0x8000) + inodes
        out += Self.le16(UInt16(directories.count) | 0x8000) + directories
        out += Self.le16(4 | 0x8000) + Self.le32(0)
        out += Self.le64(UInt64(l.idBlock))
        out += [UInt8](repeating: 0, count: (4096 - out.count % 4096) % 4096)
        return out
    }
}
