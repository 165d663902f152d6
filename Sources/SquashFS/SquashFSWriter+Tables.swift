// Finishing an image: inode numbers, then (children before parents) the inode table and the
// directory table, then the fragment, id and xattr tables, the superblock and the padding.

extension SquashFSWriter {
    /// Completes the image; the output file then holds a valid squashfs of `fileSize` bytes.
    public func finish() throws(SquashFSError) -> SquashFSSummary {
        guard !finished else { throw .invalidTree(path: "/", reason: "image already finished") }
        try flushFragment()
        try drainAll()
        finished = true
        pipeline.shutdown()

        var layout = TableLayout(writer: self)
        let summary = try layout.write()
        return summary
    }
}

/// Builds and writes every table after the data.
struct TableLayout {
    let writer: SquashFSWriter
    var inodeTable: MetadataWriter
    var directoryTable: MetadataWriter
    var ids: [UInt32] = []
    var idIndex: [UInt32: UInt16] = [:]
    var xattrSets: [[ExtendedAttribute]] = []
    var xattrIndex: [[ExtendedAttribute]: UInt32] = [:]
    var inodeCount: UInt32 = 0
    var fileCount = 0
    var directoryCount = 0
    var newestMtime: Int64 = 0

    init(writer: SquashFSWriter) {
        self.writer = writer
        inodeTable = MetadataWriter(compressor: writer.compressor)
        directoryTable = MetadataWriter(compressor: writer.compressor)
    }

    var options: SquashFSOptions { writer.options }

    // MARK: numbering

    /// Root is 1; each directory's children get consecutive numbers (so directory headers need
    /// few breaks), then their subdirectories are numbered depth-first.
    mutating func number() throws(SquashFSError) {
        var next: UInt32 = 1
        writer.root.inode.number = next
        next += 1
        var stack = [writer.root]
        while let dir = stack.popLast() {
            let children = dir.sortedChildren
            for child in children where child.inode.number == 0 {
                child.inode.number = next
                next += 1
            }
            for child in children.reversed() where child.inode.isDirectory { stack.append(child) }
        }
        inodeCount = next - 1
    }

    mutating func idIndex(_ id: UInt32) throws(SquashFSError) -> UInt16 {
        if let i = idIndex[id] { return i }
        guard ids.count < 65536 else { throw .tooLarge("more than 65536 distinct uids and gids") }
        let i = UInt16(ids.count)
        ids.append(id)
        idIndex[id] = i
        return i
    }

    /// Squashfs stores only the user., trusted. and security. namespaces; others are dropped
    /// (and reported by the tree readers).
    mutating func xattrIndex(_ attrs: [ExtendedAttribute]) -> UInt32 {
        let storable = attrs.filter { xattrPrefix($0.name) != nil }
        guard !storable.isEmpty else { return Format.invalidXattr }
        let sorted = storable.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        if let i = xattrIndex[sorted] { return i }
        let i = UInt32(xattrSets.count)
        xattrSets.append(sorted)
        xattrIndex[sorted] = i
        return i
    }

    func mtime(_ m: EntryMetadata) -> UInt32 {
        let t = options.fixedTimestamp ?? m.mtime
        return UInt32(clamping: max(0, min(t, Int64(UInt32.max))))
    }

    // MARK: inodes

    mutating func header(_ w: inout ByteWriter, _ type: InodeType, _ inode: Inode) throws(SquashFSError) {
        w.u16(type.rawValue)
        // Permission bits only: readers add the type from the inode type (and newer kernels
        // reject type bits here).
        w.u16(inode.metadata.permissions)
        w.u16(try idIndex(inode.metadata.uid))
        w.u16(try idIndex(inode.metadata.gid))
        w.u32(mtime(inode.metadata))
        w.u32(inode.number)
        newestMtime = max(newestMtime, inode.metadata.mtime)
    }

    func modeBits(_ inode: Inode) -> UInt16 {
        switch inode.kind {
        case .directory: return 0o040000
        case .file: return 0o100000
        case .symlink: return 0o120000
        case .characterDevice: return 0o020000
        case .blockDevice: return 0o060000
        case .fifo: return 0o010000
        case .socket: return 0o140000
        }
    }

    /// Writes a non-directory inode and records its reference.
    mutating func writeInode(_ inode: Inode) throws(SquashFSError) {
        let xattr = xattrIndex(inode.metadata.xattrs)
        inode.xattrIndex = xattr
        let hasXattr = xattr != Format.invalidXattr
        var w = ByteWriter(capacity: 64)
        switch inode.kind {
        case .file(let file):
            fileCount += 1
            let data = file.resolved
            let extended =
                hasXattr || inode.linkCount > 1 || data.sparseBytes > 0
                || data.startBlock > UInt64(UInt32.max) || data.size > UInt64(UInt32.max)
            if extended {
                try header(&w, .extendedFile, inode)
                w.u64(data.startBlock); w.u64(data.size); w.u64(data.sparseBytes)
                w.u32(UInt32(inode.linkCount)); w.u32(data.fragmentIndex); w.u32(data.fragmentOffset); w.u32(xattr)
            } else {
                try header(&w, .file, inode)
                w.u32(UInt32(data.startBlock)); w.u32(data.fragmentIndex); w.u32(data.fragmentOffset); w.u32(UInt32(data.size))
            }
            for size in data.blockSizes { w.u32(size) }
        case .symlink(let target):
            try header(&w, hasXattr ? .extendedSymlink : .symlink, inode)
            w.u32(UInt32(inode.linkCount)); w.u32(UInt32(target.count)); w.append(target)
            if hasXattr { w.u32(xattr) }
        case .characterDevice(let rdev), .blockDevice(let rdev):
            let isChar: Bool
            if case .characterDevice = inode.kind { isChar = true } else { isChar = false }
            let type: InodeType = isChar ? (hasXattr ? .extendedCharDevice : .charDevice) : (hasXattr ? .extendedBlockDevice : .blockDevice)
            try header(&w, type, inode)
            w.u32(UInt32(inode.linkCount)); w.u32(rdev)
            if hasXattr { w.u32(xattr) }
        case .fifo, .socket:
            let isFifo: Bool
            if case .fifo = inode.kind { isFifo = true } else { isFifo = false }
            let type: InodeType = isFifo ? (hasXattr ? .extendedFifo : .fifo) : (hasXattr ? .extendedSocket : .socket)
            try header(&w, type, inode)
            w.u32(UInt32(inode.linkCount))
            if hasXattr { w.u32(xattr) }
        case .directory:
            preconditionFailure("directories are written by writeDirectory")
        }
        inode.reference = inodeTable.reference
        inodeTable.append(w.bytes)
    }

    /// Writes a directory's subtree (children first), its listing and its inode.
    mutating func writeDirectory(_ node: TreeNode, parentNumber: UInt32) throws(SquashFSError) {
        directoryCount += 1
        let children = node.sortedChildren
        var subdirectories = 0
        for child in children where child.inode.isDirectory {
            subdirectories += 1
            try writeDirectory(child, parentNumber: node.inode.number)
        }
        for child in children where !child.inode.isDirectory && child.inode.reference == nil {
            try writeInode(child.inode)
        }

        // The listing: runs of entries sharing one inode metadata block, at most 256 per header,
        // inode numbers within ±32767 of the header's. A run also ends where the listing crosses
        // into the next directory metadata block, so each block starts with a header that the
        // directory index (for fast lookups in big directories) can point to.
        let listingStart = directoryTable.streamPosition
        var listing = ByteWriter()
        var headerOffsets: [(offset: Int, name: [UInt8])] = []
        var i = 0
        while i < children.count {
            let first = children[i].inode
            let block = UInt32(first.reference! >> 16)
            let base = first.number
            let headerAt = listing.count
            let headerBlock = (listingStart + headerAt) / Format.metadataSize
            var run = 1
            var end = headerAt + 12 + 8 + children[i].name.count
            while i + run < children.count && run < 256 {
                let c = children[i + run]
                let delta = Int64(c.inode.number) - Int64(base)
                let entryEnd = end + 8 + c.name.count
                guard UInt32(c.inode.reference! >> 16) == block, delta >= -32768, delta <= 32767,
                    (listingStart + entryEnd - 1) / Format.metadataSize == headerBlock
                else { break }
                end = entryEnd
                run += 1
            }
            headerOffsets.append((headerAt, children[i].name))
            listing.u32(UInt32(run - 1)); listing.u32(block); listing.u32(base)
            for child in children[i..<(i + run)] {
                let inode = child.inode
                listing.u16(UInt16(inode.reference! & 0xFFFF))
                listing.u16(UInt16(bitPattern: Int16(Int64(inode.number) - Int64(base))))
                listing.u16(entryType(inode))
                listing.u16(UInt16(child.name.count - 1))
                listing.append(child.name)
            }
            i += run
        }
        let (dirBlock, dirOffset) = directoryTable.position
        directoryTable.append(listing.bytes)
        // Index entries: the first header in each later metadata block of the listing.
        var index = ByteWriter()
        var indexCount = 0
        var lastBlock = listingStart / Format.metadataSize
        for (offset, name) in headerOffsets {
            let blockNumber = (listingStart + offset) / Format.metadataSize
            guard blockNumber != lastBlock else { continue }
            lastBlock = blockNumber
            index.u32(UInt32(offset))
            index.u32(UInt32(directoryTable.blockStart(ofStreamPosition: listingStart + offset)))
            index.u32(UInt32(name.count - 1))
            index.append(name)
            indexCount += 1
        }

        let inode = node.inode
        let xattr = xattrIndex(inode.metadata.xattrs)
        let fileSize = listing.count + 3
        var w = ByteWriter(capacity: 40)
        if xattr != Format.invalidXattr || fileSize > 0xFFFF || dirBlock > Int(UInt32.max) || indexCount > 0 {
            try header(&w, .extendedDirectory, inode)
            w.u32(UInt32(2 + subdirectories)); w.u32(UInt32(fileSize)); w.u32(UInt32(dirBlock))
            w.u32(parentNumber); w.u16(UInt16(indexCount)); w.u16(UInt16(dirOffset)); w.u32(xattr)
            w.append(index.bytes)
        } else {
            try header(&w, .directory, inode)
            w.u32(UInt32(dirBlock)); w.u32(UInt32(2 + subdirectories)); w.u16(UInt16(fileSize))
            w.u16(UInt16(dirOffset)); w.u32(parentNumber)
        }
        inode.reference = inodeTable.reference
        inodeTable.append(w.bytes)
    }

    func entryType(_ inode: Inode) -> UInt16 {
        switch inode.kind {
        case .directory: return InodeType.directory.rawValue
        case .file: return InodeType.file.rawValue
        case .symlink: return InodeType.symlink.rawValue
        case .blockDevice: return InodeType.blockDevice.rawValue
        case .characterDevice: return InodeType.charDevice.rawValue
        case .fifo: return InodeType.fifo.rawValue
        case .socket: return InodeType.socket.rawValue
        }
    }

    // MARK: tables

    /// A table of fixed-size entries in metadata blocks followed by the u64 index of those blocks.
    /// Returns the bytes and the offset (within them) of the index.
    func indexedTable(_ entries: [UInt8], at start: UInt64) -> (bytes: [UInt8], indexOffset: Int) {
        var m = MetadataWriter(compressor: writer.compressor)
        m.append(entries)
        var bytes = m.finish()
        let indexOffset = bytes.count
        var w = ByteWriter()
        for blockStart in m.blockStarts { w.u64(start + UInt64(blockStart)) }
        bytes += w.bytes
        return (bytes, indexOffset)
    }

    mutating func write() throws(SquashFSError) -> SquashFSSummary {
        try number()
        try writeDirectory(writer.root, parentNumber: inodeCount + 1)
        let rootReference = writer.root.inode.reference!

        var position = writer.position
        let inodeTableStart = position
        let inodes = inodeTable.finish()
        try writer.output.write(inodes, at: position)
        position += UInt64(inodes.count)

        let directoryTableStart = position
        let directories = directoryTable.finish()
        try writer.output.write(directories, at: position)
        position += UInt64(directories.count)

        var fragmentTableStart = Format.invalidTable
        if !writer.fragmentEntries.isEmpty {
            var entries = ByteWriter()
            for f in writer.fragmentEntries { entries.u64(f.start); entries.u32(f.size); entries.u32(0) }
            let table = indexedTable(entries.bytes, at: position)
            try writer.output.write(table.bytes, at: position)
            fragmentTableStart = position + UInt64(table.indexOffset)
            position += UInt64(table.bytes.count)
        }

        var idEntries = ByteWriter()
        for id in ids { idEntries.u32(id) }
        let idTable = indexedTable(idEntries.bytes, at: position)
        try writer.output.write(idTable.bytes, at: position)
        let idTableStart = position + UInt64(idTable.indexOffset)
        position += UInt64(idTable.bytes.count)

        var xattrTableStart = Format.invalidTable
        if !xattrSets.isEmpty {
            var kv = MetadataWriter(compressor: writer.compressor)
            var idEntries = ByteWriter()
            for set in xattrSets {
                let reference = kv.reference
                var w = ByteWriter()
                var total = 0
                for attr in set {
                    guard let (prefix, rest) = xattrPrefix(attr.name) else { continue }
                    w.u16(prefix); w.u16(UInt16(rest.count)); w.append(rest)
                    w.u32(UInt32(attr.value.count)); w.append(attr.value)
                    total += attr.name.count + 1 + attr.value.count
                }
                kv.append(w.bytes)
                idEntries.u64(reference); idEntries.u32(UInt32(set.count)); idEntries.u32(UInt32(total))
            }
            let kvBytes = kv.finish()
            let kvStart = position
            try writer.output.write(kvBytes, at: position)
            position += UInt64(kvBytes.count)
            var ids = MetadataWriter(compressor: writer.compressor)
            ids.append(idEntries.bytes)
            let idBytes = ids.finish()
            let idsStart = position
            try writer.output.write(idBytes, at: position)
            position += UInt64(idBytes.count)
            var header = ByteWriter()
            header.u64(kvStart); header.u32(UInt32(xattrSets.count)); header.u32(0)
            for blockStart in ids.blockStarts { header.u64(idsStart + UInt64(blockStart)) }
            xattrTableStart = position
            try writer.output.write(header.bytes, at: position)
            position += UInt64(header.count)
        }

        let bytesUsed = position
        var flags = Format.flagDuplicates
        if !options.fragments { flags |= Format.flagNoFragments }
        if xattrSets.isEmpty { flags |= Format.flagNoXattrs }
        if writer.optionsBlock != nil { flags |= Format.flagCompressorOptions }
        let mkfsTime = options.fixedTimestamp ?? newestMtime

        var sb = ByteWriter(capacity: 96)
        sb.u32(Format.magic)
        sb.u32(inodeCount)
        sb.u32(UInt32(clamping: max(0, min(mkfsTime, Int64(UInt32.max)))))
        sb.u32(UInt32(options.blockSize))
        sb.u32(UInt32(writer.fragmentEntries.count))
        sb.u16(options.compression.algorithm.id)
        sb.u16(UInt16(options.blockSize.trailingZeroBitCount))
        sb.u16(flags)
        sb.u16(UInt16(ids.count))
        sb.u16(4); sb.u16(0)
        sb.u64(rootReference)
        sb.u64(bytesUsed)
        sb.u64(idTableStart)
        sb.u64(xattrTableStart)
        sb.u64(inodeTableStart)
        sb.u64(directoryTableStart)
        sb.u64(fragmentTableStart)
        sb.u64(Format.invalidTable)  // no export table
        if let opts = writer.optionsBlock {
            var header = ByteWriter()
            header.u16(UInt16(opts.count) | Format.metadataUncompressed)
            sb.append(header.bytes + opts)
        }
        try writer.output.write(sb.bytes, at: 0)

        var fileSize = bytesUsed
        if options.pad && fileSize % 4096 != 0 {
            fileSize += 4096 - fileSize % 4096
        }
        try writer.output.truncate(to: fileSize)

        return SquashFSSummary(
            bytesUsed: bytesUsed, fileSize: fileSize, inodes: Int(inodeCount), files: fileCount,
            directories: directoryCount, fragments: writer.fragmentEntries.count,
            duplicateFiles: writer.duplicateCount, dataBytes: writer.dataBytes)
    }
}

/// Splits `user.x` / `trusted.x` / `security.x` into squashfs's prefix id and the rest.
func xattrPrefix(_ name: [UInt8]) -> (UInt16, [UInt8])? {
    for (id, prefix) in [(UInt16(0), "user."), (1, "trusted."), (2, "security.")] {
        let p = Array(prefix.utf8)
        if name.count > p.count && name.starts(with: p) { return (id, Array(name[p.count...])) }
    }
    return nil
}
