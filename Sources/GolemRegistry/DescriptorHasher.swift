// Hashing an image for its descriptor in one sequential read: the caller's thread reads 4 MiB
// blocks into a small ring, one thread feeds them to SHA3-224 and another to the per-chunk
// SHA-256, so the pass takes as long as the slower hash, and memory stays at the ring's 16 MiB
// whatever the file's size.
import Foundation
import GVMI
import SquashFS

enum DescriptorHasher {
    static let blockSize = 4 << 20
    static let slots = 4

    /// Computes the descriptor of the `size` bytes readable at `fd` (`path` names it in errors);
    /// `progress` gets the byte count of each block read.
    static func compute(
        fd: Int32, path: String, size: UInt64, chunkSize: UInt64,
        progress: (Int) -> Void = { _ in }
    ) throws(GolemRegistryError) -> ImageDescriptor {
        let ring = Ring(
            blocks: Int((size + UInt64(blockSize) - 1) / UInt64(blockSize)),
            chunkHashes: ChunkedSHA256(chunkSize: chunkSize, fileSize: size))
        defer { ring.release() }
        let group = DispatchGroup()
        ring.start(group) { ring, block in
            ring.sha3.update(block)
        }
        ring.start(group) { ring, block in
            ring.chunkHashes.update(block)
        }
        var failure: GolemRegistryError?
        for k in 0..<ring.blocks {
            let offset = UInt64(k) * UInt64(blockSize)
            let length = Int(min(UInt64(blockSize), size - offset))
            let buffer = ring.waitForFreeSlot(k)
            var done = 0
            while done < length {
                let n = pread(fd, buffer.baseAddress! + done, length - done, off_t(offset) + off_t(done))
                if n < 0, errno == EINTR { continue }
                if n <= 0 {
                    failure =
                        n < 0
                        ? .io(path: path, operation: "read at offset \(offset)", errno: errno)
                        : .fileChanged(path: path, detail: "it is shorter than its \(size) bytes")
                    break
                }
                done += n
            }
            if failure != nil { break }
            ring.publish(k, length: length)
            progress(length)
        }
        if failure != nil { ring.abort() }
        group.wait()
        if let failure { throw failure }
        return ImageDescriptor(fileSize: size, chunkSize: chunkSize, sha3: ring.sha3.finalize(), chunkHashes: ring.chunkHashes.hashes)
    }

    /// The blocks in flight and the two hashers' state; every field is guarded by `condition`
    /// or owned by one hasher thread (`sha3` by the first, `chunkHashes` by the second).
    final class Ring: @unchecked Sendable {
        let blocks: Int
        let buffers: [UnsafeMutableRawBufferPointer]
        var lengths = [Int](repeating: 0, count: DescriptorHasher.slots)
        let condition = NSCondition()
        var produced = 0
        var consumed: [Int] = []
        var aborted = false
        var sha3 = SHA3_224()
        var chunkHashes: ChunkedSHA256

        init(blocks: Int, chunkHashes: ChunkedSHA256) {
            self.blocks = blocks
            self.chunkHashes = chunkHashes
            let count = min(DescriptorHasher.slots, max(blocks, 1))
            buffers = (0..<count).map { _ in .allocate(byteCount: DescriptorHasher.blockSize, alignment: 64) }
        }

        func release() { buffers.forEach { $0.deallocate() } }

        /// Runs `hash` on every block in order, on a thread of its own.
        func start(_ group: DispatchGroup, _ hash: @escaping @Sendable (Ring, UnsafeRawBufferPointer) -> Void) {
            condition.lock()
            let me = consumed.count
            consumed.append(0)
            condition.unlock()
            group.enter()
            let thread = Thread { [self] in
                defer { group.leave() }
                for k in 0..<blocks {
                    condition.lock()
                    while produced <= k && !aborted { condition.wait() }
                    let stop = aborted
                    condition.unlock()
                    if stop { return }
                    let slot = k % buffers.count
                    hash(self, UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(buffers[slot])[0..<lengths[slot]]))
                    condition.lock()
                    consumed[me] = k + 1
                    condition.broadcast()
                    condition.unlock()
                }
            }
            thread.start()
        }

        /// The buffer for block `k`, once every hasher is done with the block it held before.
        func waitForFreeSlot(_ k: Int) -> UnsafeMutableRawBufferPointer {
            condition.lock()
            while (consumed.min() ?? k) <= k - buffers.count { condition.wait() }
            condition.unlock()
            return buffers[k % buffers.count]
        }

        func publish(_ k: Int, length: Int) {
            condition.lock()
            lengths[k % buffers.count] = length
            produced = k + 1
            condition.broadcast()
            condition.unlock()
        }

        func abort() {
            condition.lock()
            aborted = true
            condition.broadcast()
            condition.unlock()
        }
    }
}

extension ImageDescriptor {
    /// The descriptor of the file at `path` with `chunkSize` (default: gvmkit-build's for its
    /// size), read once.
    public static func compute(
        path: String, chunkSize: UInt64? = nil,
        progress: (Int) -> Void = { _ in }
    ) throws(GolemRegistryError) -> ImageDescriptor {
        let (fd, size) = try openImage(path)
        defer { close(fd) }
        let chunk = chunkSize ?? defaultChunkSize(fileSize: size)
        guard chunk > 0 else { throw .invalidDescriptor("chunk size 0") }
        return try DescriptorHasher.compute(fd: fd, path: path, size: size, chunkSize: chunk, progress: progress)
    }
}

/// Opens an image to hash or upload: a regular file only (SquashFS's RegularFile), its size.
func openImage(_ path: String) throws(GolemRegistryError) -> (fd: Int32, size: UInt64) {
    do { return try RegularFile.open(path) } catch { throw .invalidImage(path: path, reason: "\(error)") }
}
