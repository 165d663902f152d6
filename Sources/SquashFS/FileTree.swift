// The writer's in-memory tree: one node per path, holding metadata and, for files, where their
// data went. Only metadata lives here; file contents are already compressed into the image.

/// Where a regular file's data is in the image. Sendable without checks: the writer's thread owns
/// it; it travels with a block job to the compression workers, which never touch it.
final class FileData: @unchecked Sendable {
    var size: UInt64
    var startBlock: UInt64 = 0
    var blockSizes: [UInt32] = []
    var fragmentIndex: UInt32 = Format.invalidFragment
    var fragmentOffset: UInt32 = 0
    var sparseBytes: UInt64 = 0
    /// Set when the content equals an earlier file's: this file's blocks are dropped.
    var duplicateOf: FileData?

    init(size: UInt64) { self.size = size }

    /// The data location actually used (a duplicate's original).
    var resolved: FileData { duplicateOf?.resolved ?? self }
}

/// One inode: a hardlinked inode is shared by several names.
final class Inode {
    enum Kind {
        case directory
        case file(FileData)
        case symlink([UInt8])
        case characterDevice(UInt32)
        case blockDevice(UInt32)
        case fifo
        case socket
    }

    var kind: Kind
    var metadata: EntryMetadata
    /// Names (directory entries) that point here.
    var linkCount = 1
    var number: UInt32 = 0
    var reference: UInt64?
    var xattrIndex: UInt32 = Format.invalidXattr

    init(kind: Kind, metadata: EntryMetadata) { self.kind = kind; self.metadata = metadata }

    var isDirectory: Bool { if case .directory = kind { return true } else { return false } }
}

/// A directory entry: a name and the inode it names; directories have children.
final class TreeNode {
    let name: [UInt8]
    var inode: Inode
    var children: [[UInt8]: TreeNode] = [:]
    weak var parent: TreeNode?

    init(name: [UInt8], inode: Inode, parent: TreeNode?) {
        self.name = name; self.inode = inode; self.parent = parent
    }

    /// Children sorted by name bytes (squashfs directories must be sorted).
    var sortedChildren: [TreeNode] {
        children.values.sorted { $0.name.lexicographicallyPrecedes($1.name) }
    }
}

/// Linux `new_encode_dev`: how squashfs stores device numbers.
func encodeDevice(major: UInt32, minor: UInt32) -> UInt32 {
    (minor & 0xFF) | (major << 8) | ((minor & ~0xFF) << 12)
}
