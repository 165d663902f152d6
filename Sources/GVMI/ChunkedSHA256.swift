// SHA-256 of each fixed-size chunk of a file fed in blocks of any size: the per-chunk hashes of
// the Golem registry's image descriptor, computed by whoever reads the file anyway (the image
// writer's read-back, or the push's hashing pass).
import SquashFS

public struct ChunkedSHA256: @unchecked Sendable {
    public let chunkSize: UInt64
    public private(set) var hashes: [[UInt8]] = []
    private var current = SHA256()
    private var position: UInt64 = 0
    private let fileSize: UInt64

    public init(chunkSize: UInt64, fileSize: UInt64) {
        precondition(chunkSize > 0)
        self.chunkSize = chunkSize
        self.fileSize = fileSize
    }

    /// The next bytes of the file, in order.
    public mutating func update(_ block: UnsafeRawBufferPointer) {
        var rest = block
        while !rest.isEmpty {
            let chunkEnd = min((position / chunkSize + 1) * chunkSize, fileSize)
            guard chunkEnd > position else { return }  // past the file's end: nothing to hash
            let take = min(rest.count, Int(chunkEnd - position))
            current.update(UnsafeRawBufferPointer(rebasing: rest[0..<take]))
            position += UInt64(take)
            rest = UnsafeRawBufferPointer(rebasing: rest[take...])
            if position == chunkEnd {
                hashes.append(current.finalize())
                current = SHA256()
            }
        }
    }
}
