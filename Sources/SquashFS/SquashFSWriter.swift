// The squashfs 4.0 writer. Entries arrive in any order (a directory walk, or layer tarballs
// streamed without unpacking); file data is compressed in parallel and written at once, so only
// metadata is kept in memory. `finish()` lays out the inode, directory, fragment, id and xattr
// tables and the superblock (SquashFSWriter+Tables.swift).
import CDigest
#if canImport(Glibc)
import Glibc
#endif

/// How the squashfs is written: compression, block size, workers, timestamps, deduplication, fragments.
public struct SquashFSOptions: Sendable {
    public var compression = CompressionOptions()
    /// Data block size: a power of two from 4 KiB to 1 MiB.
    public var blockSize = 128 * 1024
    /// Compression threads (default: one per core).
    public var workers = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    /// When set, every inode's mtime and the superblock time (SOURCE_DATE_EPOCH semantics).
    public var fixedTimestamp: Int64?
    public var deduplicate = true
    /// Pack file tails smaller than a block into shared fragment blocks.
    public var fragments = true
    /// Pad the image to a multiple of 4 KiB, as mksquashfs does.
    public var pad = true
    /// A block store directory (BlockStore): blocks compressed by earlier writes with the same
    /// settings are taken from it instead of being compressed again; the output is the same.
    public var blockStore: String?
    /// False: blocks are compressed and stored, never read from the store (`--no-cache`).
    public var blockStoreReads = true

    public init() {}

    public func validate() throws(SquashFSError) {
        guard blockSize >= 4096, blockSize <= 1 << 20, blockSize & (blockSize - 1) == 0 else {
            throw .badOption("block size \(blockSize) must be a power of two from 4096 to 1048576")
        }
        try compression.validate()
    }
}

/// What was written.
public struct SquashFSSummary: Sendable, Codable, Equatable {
    public var bytesUsed: UInt64
    /// File size including padding.
    public var fileSize: UInt64
    public var inodes: Int
    public var files: Int
    public var directories: Int
    public var fragments: Int
    public var duplicateFiles: Int
    public var dataBytes: UInt64

    public init(
        bytesUsed: UInt64, fileSize: UInt64, inodes: Int, files: Int, directories: Int, fragments: Int,
        duplicateFiles: Int, dataBytes: UInt64
    ) {
        self.bytesUsed = bytesUsed; self.fileSize = fileSize; self.inodes = inodes; self.files = files
        self.directories = directories; self.fragments = fragments; self.duplicateFiles = duplicateFiles; self.dataBytes = dataBytes
    }
}

/// Writes a squashfs 4.0 image from entries given in any order, compressing data in parallel.
public final class SquashFSWriter {
    public let options: SquashFSOptions
    let output: OutputFile
    let compressor: BlockCompressor
    let pipeline: BlockPipeline
    let root: TreeNode
    /// Next free byte of the image.
    var position: UInt64
    var fragmentBuffer: UnsafeMutableRawBufferPointer?
    var fragmentFill = 0
    var fragmentEntries: [(start: UInt64, size: UInt32)] = []
    var dedupTable: [[UInt8]: FileData] = [:]
    var duplicateCount = 0
    var dataBytes: UInt64 = 0
    /// Called with the file bytes read so far, after each data block (for progress displays).
    public var onData: ((UInt64) -> Void)?
    /// The sizes that more than one file of the tree has, when the caller knows them (a directory
    /// walked before, a layer tree in memory): a file of another size cannot be a duplicate, so
    /// its blocks are not hashed for deduplication (mksquashfs compares sizes first too). Nil:
    /// every file is hashed. The image is the same bytes either way.
    public var sharedSizes: Set<UInt64>?
    /// Sizes of files the caller will add after the tree whose census makes `sharedSizes` (the
    /// boot files), counted in that census.
    public var laterFileSizes: [UInt64] = []

    /// `sharedSizes` from the sizes of the files to be written (hard links once) and
    /// `laterFileSizes`: the sizes that occur more than once.
    public func setSharedSizes<S: Sequence>(fileSizes: S) where S.Element == UInt64 {
        var seen = Set<UInt64>(), shared = Set<UInt64>()
        for size in fileSizes where !seen.insert(size).inserted { shared.insert(size) }
        for size in laterFileSizes where !seen.insert(size).inserted { shared.insert(size) }
        sharedSizes = shared
    }
    var finished = false
    let optionsBlock: [UInt8]?

    /// Starts an image in `output` (which the caller commits or discards).
    public init(output: OutputFile, options: SquashFSOptions = SquashFSOptions()) throws(SquashFSError) {
        try options.validate()
        self.options = options
        self.output = output
        compressor = BlockCompressor(options: options.compression, blockSize: options.blockSize)
        pipeline = BlockPipeline(
            compressor: compressor, workers: options.workers,
            store: options.blockStore.flatMap {
                BlockStore(
                    directory: $0, compression: options.compression, blockSize: options.blockSize,
                    reads: options.blockStoreReads)
            })
        let rootInode = Inode(kind: .directory, metadata: .defaultDirectory)
        root = TreeNode(name: [], inode: rootInode, parent: nil)
        optionsBlock = options.compression.optionsBlock(blockSize: options.blockSize)
        position = UInt64(Format.superblockSize + (optionsBlock.map { $0.count + 2 } ?? 0))
    }

    deinit {
        pipeline.shutdown()
        fragmentBuffer?.deallocate()
    }

    // MARK: - Entries

    /// Adds a directory, symlink, device, fifo or socket. An existing entry at `path` is replaced
    /// (a directory that stays a directory keeps its children).
    public func add(_ path: EntryPath, _ entry: SpecialEntry, metadata: EntryMetadata) throws(SquashFSError) {
        let kind: Inode.Kind
        switch entry {
        case .directory:
            if path.isRoot { root.inode.metadata = metadata; return }
            kind = .directory
        case .symlink(let target):
            guard !target.isEmpty else { throw .invalidTree(path: path.description, reason: "symlink with an empty target") }
            kind = .symlink(target)
        case .characterDevice(let major, let minor): kind = .characterDevice(encodeDevice(major: major, minor: minor))
        case .blockDevice(let major, let minor): kind = .blockDevice(encodeDevice(major: major, minor: minor))
        case .fifo: kind = .fifo
        case .socket: kind = .socket
        }
        try place(path, Inode(kind: kind, metadata: metadata))
    }

    /// Adds a regular file whose `size` bytes are pulled from `read` (which fills the buffer it is
    /// given and returns the byte count, 0 at the end). Data is compressed as it arrives.
    public func addFile(
        _ path: EntryPath, metadata: EntryMetadata, size: UInt64,
        read: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws {
        guard !path.isRoot else { throw SquashFSError.invalidTree(path: "/", reason: "the root must be a directory") }
        let data = FileData(size: size)
        try writeContent(data, path: path, read: read)
        try place(path, Inode(kind: .file(data), metadata: metadata))
    }

    /// Adds a regular file from memory.
    public func addFile(_ path: EntryPath, metadata: EntryMetadata, contents: [UInt8]) throws {
        var offset = 0
        try addFile(path, metadata: metadata, size: UInt64(contents.count)) { buffer in
            let n = min(buffer.count, contents.count - offset)
            contents.withUnsafeBytes { src in
                buffer.baseAddress!.copyMemory(from: src.baseAddress! + offset, byteCount: n)
            }
            offset += n
            return n
        }
    }

    /// Adds `path` as another name of the existing non-directory `target`.
    public func addHardlink(_ path: EntryPath, target: EntryPath) throws(SquashFSError) {
        guard let node = lookup(target) else {
            throw .invalidTree(path: path.description, reason: "hardlink target \(target) does not exist")
        }
        guard !node.inode.isDirectory else {
            throw .invalidTree(path: path.description, reason: "hardlink target \(target) is a directory")
        }
        if let existing = lookup(path), existing.inode === node.inode { return }
        node.inode.linkCount += 1
        try place(path, node.inode)
    }

    /// Whether an entry exists (for consumers that apply layers top-down).
    public func contains(_ path: EntryPath) -> Bool { lookup(path) != nil }

    /// Whether a regular file exists at `path` (a symlink there does not count).
    public func isRegularFile(_ path: EntryPath) -> Bool {
        guard let node = lookup(path) else { return false }
        if case .file = node.inode.kind { return true }
        return false
    }

    func lookup(_ path: EntryPath) -> TreeNode? {
        var node = root
        for c in path.components {
            guard let next = node.children[c] else { return nil }
            node = next
        }
        return node
    }

    private func place(_ path: EntryPath, _ inode: Inode) throws(SquashFSError) {
        guard !finished else { throw .invalidTree(path: path.description, reason: "image already finished") }
        guard let name = path.components.last else {
            throw .invalidTree(path: "/", reason: "the root must be a directory")
        }
        var parent = root
        for c in path.components.dropLast() {
            if let next = parent.children[c] {
                guard next.inode.isDirectory else {
                    throw .invalidTree(path: path.description, reason: "a parent is not a directory")
                }
                parent = next
            } else {
                let dir = TreeNode(name: c, inode: Inode(kind: .directory, metadata: .defaultDirectory), parent: parent)
                parent.children[c] = dir
                parent = dir
            }
        }
        if let existing = parent.children[name] {
            if existing.inode.isDirectory && inode.isDirectory {
                existing.inode.metadata = inode.metadata
                return
            }
            existing.inode.linkCount -= 1
        }
        parent.children[name] = TreeNode(name: name, inode: inode, parent: parent)
    }

    // MARK: - Data

    private func deliver(_ job: BlockJob) throws(SquashFSError) {
        switch job.tag {
        case .data(let file):
            let (bytes, sizeWord) = job.output
            if file.blockSizes.isEmpty { file.startBlock = position }
            try output.write(bytes, at: position)
            position += UInt64(bytes.count)
            file.blockSizes.append(sizeWord)
        case .sparse(let file):
            if file.blockSizes.isEmpty { file.startBlock = position }
            file.blockSizes.append(0)
            file.sparseBytes += UInt64(job.input.count)
        case .fragment(let index):
            let (bytes, sizeWord) = job.output
            fragmentEntries[index] = (position, sizeWord)
            try output.write(bytes, at: position)
            position += UInt64(bytes.count)
        case .endOfFile(let file):
            if file.duplicateOf != nil {
                // Its blocks equal the original's: take them back.
                if !file.blockSizes.isEmpty { position = file.startBlock }
                file.blockSizes = []
            }
        }
    }

    private func submit(_ buffer: UnsafeMutableRawBufferPointer, tag: BlockTag, compress: Bool) throws(SquashFSError) {
        do {
            try pipeline.submit(buffer, tag: tag, compress: compress) { job in try self.deliver(job) }
        } catch let e as SquashFSError {
            throw e
        } catch {
            throw .compressionFailed("\(error)")
        }
    }

    private func writeContent(
        _ data: FileData, path: EntryPath,
        read: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws {
        let blockSize = options.blockSize
        let size = data.size
        // With fragments, the last partial block (the tail) goes to a fragment; without, it is a
        // short data block of its own.
        let fullBlocks = options.fragments ? size / UInt64(blockSize) : (size + UInt64(blockSize) - 1) / UInt64(blockSize)
        let tailSize = options.fragments ? Int(size % UInt64(blockSize)) : 0
        var key = SHA256()
        var remaining = size

        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            var filled = 0
            while filled < buffer.count {
                let n = try read(UnsafeMutableRawBufferPointer(rebasing: buffer[filled...]))
                if n == 0 { break }
                filled += n
            }
            return filled
        }

        // Files up to this size are read completely before any block is compressed, so a
        // duplicate costs no compression at all; larger ones stream, and a duplicate's blocks
        // are taken back after the fact.
        let dedup = options.deduplicate && size > 0 && (sharedSizes?.contains(size) ?? true)
        let holdBack = size <= UInt64(max(blockSize, 1 << 20)) && dedup
        var held: [(UnsafeMutableRawBufferPointer, Bool)] = []
        defer { for (b, _) in held { b.deallocate() } }

        for _ in 0..<fullBlocks {
            let length = Int(min(UInt64(blockSize), remaining))
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: length, alignment: 16)
            let got: Int
            do { got = try fill(buffer) } catch { buffer.deallocate(); throw error }
            guard got == length else {
                buffer.deallocate()
                throw SquashFSError.invalidTree(path: path.description, reason: "file shrank while being read (expected \(size) bytes)")
            }
            remaining -= UInt64(length)
            dataBytes += UInt64(length)
            onData?(dataBytes)
            let zero = isAllZero(UnsafeRawBufferPointer(buffer))
            if dedup && zero {
                var marker: [UInt8] = [0]
                withUnsafeBytes(of: UInt32(length).littleEndian) { marker.append(contentsOf: $0) }
                key.update(marker)
            } else if dedup {
                key.update([1] + SHA256.hash(UnsafeRawBufferPointer(buffer)))
            }
            if holdBack {
                held.append((buffer, zero))
            } else {
                try submit(buffer, tag: zero ? .sparse(file: data) : .data(file: data), compress: !zero)
            }
        }

        var tail: UnsafeMutableRawBufferPointer?
        if tailSize > 0 {
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: tailSize, alignment: 16)
            let got: Int
            do { got = try fill(buffer) } catch { buffer.deallocate(); throw error }
            guard got == tailSize else {
                buffer.deallocate()
                throw SquashFSError.invalidTree(path: path.description, reason: "file shrank while being read (expected \(size) bytes)")
            }
            dataBytes += UInt64(tailSize)
            onData?(dataBytes)
            if dedup { key.update([2] + SHA256.hash(UnsafeRawBufferPointer(buffer))) }
            tail = buffer
        }
        defer { tail?.deallocate() }

        // The source must be exhausted now: a longer file changed under us.
        var probe = [UInt8](repeating: 0, count: 1)
        let extra = try probe.withUnsafeMutableBytes { try read($0) }
        if extra > 0 {
            throw SquashFSError.invalidTree(path: path.description, reason: "file grew while being read (expected \(size) bytes)")
        }

        if dedup {
            var k = key.finalize()
            withUnsafeBytes(of: size.littleEndian) { k.append(contentsOf: $0) }
            if let original = dedupTable[k] {
                data.duplicateOf = original
                duplicateCount += 1
            } else {
                dedupTable[k] = data
            }
        }
        if holdBack {
            if data.duplicateOf == nil {
                let blocks = held
                held = []
                for (buffer, zero) in blocks {
                    try submit(buffer, tag: zero ? .sparse(file: data) : .data(file: data), compress: !zero)
                }
            }
        } else {
            // The end marker goes before any fragment flush, so undoing a duplicate's blocks
            // never touches a fragment block.
            let marker = UnsafeMutableRawBufferPointer.allocate(byteCount: 0, alignment: 1)
            try submit(marker, tag: .endOfFile(file: data), compress: false)
        }

        if let tail, data.duplicateOf == nil {
            try addToFragment(UnsafeRawBufferPointer(tail), file: data)
        }
    }

    private func addToFragment(_ bytes: UnsafeRawBufferPointer, file: FileData) throws(SquashFSError) {
        if let buffer = fragmentBuffer, fragmentFill + bytes.count > buffer.count {
            try flushFragment()
        }
        if fragmentBuffer == nil {
            fragmentBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: options.blockSize, alignment: 16)
            fragmentFill = 0
        }
        (fragmentBuffer!.baseAddress! + fragmentFill).copyMemory(from: bytes.baseAddress!, byteCount: bytes.count)
        file.fragmentIndex = UInt32(fragmentEntries.count)
        file.fragmentOffset = UInt32(fragmentFill)
        fragmentFill += bytes.count
    }

    func flushFragment() throws(SquashFSError) {
        guard let buffer = fragmentBuffer, fragmentFill > 0 else { return }
        let used = UnsafeMutableRawBufferPointer.allocate(byteCount: fragmentFill, alignment: 16)
        used.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<fragmentFill]))
        let index = fragmentEntries.count
        fragmentEntries.append((0, 0))
        fragmentFill = 0
        try submit(used, tag: .fragment(index: index), compress: true)
    }

    /// Delivers all outstanding blocks.
    func drainAll() throws(SquashFSError) {
        do {
            try pipeline.flush { job in try self.deliver(job) }
        } catch let e as SquashFSError {
            throw e
        } catch {
            throw .compressionFailed("\(error)")
        }
    }
}

/// True when every byte is zero (a sparse block).
public func isAllZero(_ buffer: UnsafeRawBufferPointer) -> Bool {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return true }
    return gvmc_is_zero(base, buffer.count) != 0
}
