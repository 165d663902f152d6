// SHA-256 of each fixed-size chunk of a file fed in blocks of any size: the per-chunk hashes of
// the Golem registry's image descriptor, computed by whoever reads the file anyway (the image
// writer's read-back, or the push's hashing pass).
import SquashFS

/// The SHA-256 of each fixed-size chunk of a file, fed in blocks of any size.
public struct ChunkedSHA256: Sendable {
    public let chunkSize: UInt64
    public private(set) var hashes: [[UInt8]] = []
    private var current = SHA256()
    private var position: UInt64 = 0
    private let fileSize: UInt64

    /// gvmkit-build's chunk size for a file of `size` bytes (src/main.rs): 2 MiB up to 200 MiB,
    /// then 5, 10, 20, 50 MiB, and 100 MiB past 5 GiB (the registry takes at most 1000 chunks).
    public static func defaultChunkSize(fileSize size: UInt64) -> UInt64 {
        let mib: UInt64 = 1 << 20, gib: UInt64 = 1 << 30
        switch size {
        case (5 * gib + 1)...: return 100 * mib
        case (2 * gib + 1)...: return 50 * mib
        case (gib + 1)...: return 20 * mib
        case (500 * mib + 1)...: return 10 * mib
        case (200 * mib + 1)...: return 5 * mib
        default: return 2 * mib
        }
    }

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
