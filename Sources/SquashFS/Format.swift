// Squashfs 4.0 on-disk constants and little-endian encoding helpers
// (layout as the Linux kernel reads it: fs/squashfs/squashfs_fs.h).

enum Format {
    static let magic: UInt32 = 0x7371_7368  // "hsqs"
    static let metadataSize = 8192
    static let metadataUncompressed: UInt16 = 0x8000
    static let dataUncompressed: UInt32 = 1 << 24
    static let invalidFragment: UInt32 = 0xFFFF_FFFF
    static let invalidXattr: UInt32 = 0xFFFF_FFFF
    static let invalidTable: UInt64 = 0xFFFF_FFFF_FFFF_FFFF
    static let superblockSize = 96
    static let maxNameLength = 256

    // Superblock flags.
    static let flagNoFragments: UInt16 = 1 << 4
    static let flagDuplicates: UInt16 = 1 << 6
    static let flagNoXattrs: UInt16 = 1 << 9
    static let flagCompressorOptions: UInt16 = 1 << 10
}

/// Inode types; the extended ("l") variants add nlink/xattr/64-bit fields.
enum InodeType: UInt16 {
    case directory = 1, file, symlink, blockDevice, charDevice, fifo, socket
    case extendedDirectory, extendedFile, extendedSymlink, extendedBlockDevice, extendedCharDevice,
        extendedFifo, extendedSocket

    /// The type stored in directory entries (always the basic one).
    var basic: UInt16 { rawValue > 7 ? rawValue - 7 : rawValue }
}

/// A growable little-endian byte buffer.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(truncatingIfNeeded: v)); bytes.append(UInt8(truncatingIfNeeded: v >> 8)) }
    mutating func u32(_ v: UInt32) {
        for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) }
    }
    mutating func u64(_ v: UInt64) {
        for s in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8(truncatingIfNeeded: v >> UInt64(s))) }
    }
    mutating func append<C: Collection>(_ c: C) where C.Element == UInt8 { bytes.append(contentsOf: c) }
    var count: Int { bytes.count }
}

extension Array where Element == UInt8 {
    func u16(at i: Int) -> UInt16 { UInt16(self[i]) | UInt16(self[i + 1]) << 8 }
    func u32(at i: Int) -> UInt32 {
        UInt32(self[i]) | UInt32(self[i + 1]) << 8 | UInt32(self[i + 2]) << 16 | UInt32(self[i + 3]) << 24
    }
    func u64(at i: Int) -> UInt64 { UInt64(u32(at: i)) | UInt64(u32(at: i + 4)) << 32 }
}
