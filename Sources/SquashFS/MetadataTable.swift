// A decompressed squashfs metadata table (inodes, directories, ids) and where each of its 8 KiB
// blocks lies in the file, so that a position in the table can be named in errors.

struct MetadataTable {
    /// The blocks' contents, concatenated.
    var bytes: [UInt8] = []
    /// A block's offset from the table start (what inode and directory references hold) → its
    /// position in `bytes`.
    var blockAt: [UInt64: Int] = [:]
    /// Each block's position in `bytes` and the file offset of its header, ascending.
    var blocks: [(position: Int, fileOffset: UInt64)] = []

    var count: Int { bytes.count }

    /// The file offset of the block holding `position`, and the position within that block.
    func locate(_ position: Int) -> (fileOffset: Int, inBlock: Int) {
        var low = 0, high = blocks.count
        while high - low > 1 {
            let mid = (low + high) / 2
            if blocks[mid].position <= position { low = mid } else { high = mid }
        }
        guard low < blocks.count else { return (0, position) }
        return (Int(clamping: blocks[low].fileOffset), position - blocks[low].position)
    }

    /// A corruption error at `position`: the file offset of its metadata block, and the byte in it.
    func corrupt(_ position: Int, _ reason: String) -> SquashFSError {
        let (offset, inBlock) = locate(position)
        return .corrupt(offset: offset, reason: "\(reason) (byte \(inBlock) of the metadata block at \(offset))")
    }
}

extension SquashFSReader {
    /// Decompresses the metadata blocks in [start, end) of the file. Each block holds at most
    /// 8 KiB, so the table is at most 8 KiB per 3 bytes of file read (a header and one byte).
    func metadata(from start: UInt64, to end: UInt64, what: String) throws(SquashFSError) -> MetadataTable {
        guard start <= end else {
            throw .corrupt(offset: Int(clamping: start), reason: "\(what) starts at \(start), after its end \(end)")
        }
        let raw = try read(start, Int(clamping: end - start), what: what)
        var table = MetadataTable()
        var i = 0
        var buffer = [UInt8](repeating: 0, count: Format.metadataSize)
        while i < raw.count {
            let fileOffset = start + UInt64(i)
            guard i + 2 <= raw.count else {
                throw .corrupt(offset: Int(fileOffset), reason: "\(what): metadata block header cut off by the table's end at \(end)")
            }
            let header = raw.u16(at: i)
            let length = Int(header & 0x7FFF)
            guard length > 0, length <= Format.metadataSize, length <= raw.count - i - 2 else {
                throw .corrupt(
                    offset: Int(fileOffset), reason: "\(what): metadata block of \(length) bytes runs past the table's end at \(end)")
            }
            table.blockAt[UInt64(i)] = table.bytes.count
            table.blocks.append((table.bytes.count, fileOffset))
            if header & Format.metadataUncompressed != 0 {
                table.bytes += raw[(i + 2)..<(i + 2 + length)]
            } else {
                let n = raw.withUnsafeBytes { src in
                    buffer.withUnsafeMutableBytes {
                        compressor.decompress(UnsafeRawBufferPointer(rebasing: src[(i + 2)..<(i + 2 + length)]), into: $0)
                    }
                }
                guard let n, n > 0 else {
                    throw .corrupt(
                        offset: Int(fileOffset),
                        reason: "\(what): metadata block does not decompress with \(superblock.compression.rawValue)")
                }
                table.bytes += buffer[0..<n]
            }
            i += 2 + length
        }
        return table
    }
}
