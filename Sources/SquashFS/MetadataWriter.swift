// Metadata blocks: inode, directory, fragment, id and xattr tables are streams cut into 8 KiB
// pieces, each stored with a 2-byte header (length, bit 15 = stored uncompressed).

struct MetadataWriter {
    let compressor: BlockCompressor
    private let context: CompressionContext
    /// Finished (compressed) blocks with their headers.
    private(set) var output: [UInt8] = []
    private var pending: [UInt8] = []
    /// Offsets (in `output`) where each finished block starts.
    private(set) var blockStarts: [Int] = []

    init(compressor: BlockCompressor) {
        self.compressor = compressor
        context = compressor.makeContext()
        pending.reserveCapacity(Format.metadataSize)
    }

    /// The reference of the next byte: (block start in `output`) << 16 | offset in the block.
    var position: (block: Int, offset: Int) { (output.count, pending.count) }

    var reference: UInt64 { UInt64(output.count) << 16 | UInt64(pending.count) }

    /// Bytes appended so far (the uncompressed stream position).
    var streamPosition: Int { blockStarts.count * Format.metadataSize + pending.count }

    /// Where the metadata block holding stream position `p` starts in the table (the block not
    /// yet flushed starts at the current end).
    func blockStart(ofStreamPosition p: Int) -> Int {
        let k = p / Format.metadataSize
        return k < blockStarts.count ? blockStarts[k] : output.count
    }

    mutating func append(_ bytes: [UInt8]) {
        var i = 0
        while i < bytes.count {
            let take = min(Format.metadataSize - pending.count, bytes.count - i)
            pending.append(contentsOf: bytes[i..<(i + take)])
            i += take
            if pending.count == Format.metadataSize { flushBlock() }
        }
    }

    private mutating func flushBlock() {
        guard !pending.isEmpty else { return }
        blockStarts.append(output.count)
        var compressed = [UInt8](repeating: 0, count: compressor.bound(pending.count))
        let size = pending.withUnsafeBytes { src in
            compressed.withUnsafeMutableBytes { dst in
                compressor.compress(src, into: dst, context: context)
            }
        }
        if let size {
            output.append(UInt8(truncatingIfNeeded: size)); output.append(UInt8(truncatingIfNeeded: size >> 8))
            output.append(contentsOf: compressed[0..<size])
        } else {
            let size = UInt16(pending.count) | Format.metadataUncompressed
            output.append(UInt8(truncatingIfNeeded: size)); output.append(UInt8(truncatingIfNeeded: size >> 8))
            output.append(contentsOf: pending)
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes the last partial block and returns the table bytes.
    mutating func finish() -> [UInt8] {
        flushBlock()
        return output
    }
}
