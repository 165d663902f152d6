// The chunk upload of a push: the chunks the registry lacks, `workers` at a time, each worker a
// thread with its own connection and one chunk-sized body buffer (memory: workers × chunk size).
// A chunk is read from the file just before it is sent and checked against the descriptor's
// SHA-256, so a file changed since it was hashed is caught here rather than by the registry.
import Foundation
import SquashFS
import Synchronization

final class ChunkUploader: Sendable {
    let registry: String
    let retry: RetryPolicy
    let descriptor: ImageDescriptor
    let id: String
    let fd: Int32
    let path: String
    /// Bytes sent so far of `total` (called under the lock: the counts arrive in order).
    let progress: @Sendable (UInt64, UInt64) -> Void
    let total: UInt64
    let log: @Sendable (String) -> Void
    /// What the workers share.
    private struct State {
        var sent: UInt64 = 0
        var queue: [Int] = []
        var failure: GolemRegistryError?
    }
    private let state = Mutex(State())

    init(
        registry: String, retry: RetryPolicy, descriptor: ImageDescriptor, fd: Int32, path: String,
        total: UInt64, progress: @escaping @Sendable (UInt64, UInt64) -> Void, log: @escaping @Sendable (String) -> Void
    ) {
        self.registry = registry
        self.retry = retry
        self.descriptor = descriptor
        self.id = descriptor.id
        self.fd = fd
        self.path = path
        self.total = total
        self.progress = progress
        self.log = log
    }

    /// Sends chunks `indices`; the first chunk that fails after its retries stops the others.
    func upload(_ indices: [Int], workers: Int) throws(GolemRegistryError) {
        state.withLock { $0.queue = indices.reversed() }
        // The transfer starts now (its rate and time left count from here), not at the first chunk's end.
        progress(0, total)
        let group = DispatchGroup()
        for _ in 0..<max(1, min(workers, indices.count)) {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                work()
            }.start()
        }
        group.wait()
        if let failure = state.withLock({ $0.failure }) { throw failure }
    }

    private func next() -> Int? {
        state.withLock { $0.failure == nil ? $0.queue.popLast() : nil }
    }

    private func fail(_ error: GolemRegistryError) {
        state.withLock { if $0.failure == nil { $0.failure = error } }
    }

    private func work() {
        // One body buffer per worker: the form's head (under 1 KiB), the chunk, the tail.
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Int(descriptor.chunkSize) + 4096, alignment: 64)
        defer { buffer.deallocate() }
        do throws(GolemRegistryError) {
            let client = try GolemRegistryClient(registry: registry, retry: retry)
            client.log = log
            while let index = next() { try send(index, client, buffer) }
        } catch {
            fail(error)
        }
    }

    private func send(_ index: Int, _ client: GolemRegistryClient, _ buffer: UnsafeMutableRawBufferPointer) throws(GolemRegistryError) {
        let (offset, length) = descriptor.chunk(index)
        var form = MultipartForm()
        form.fields = [
            ("descr-sha256", id), ("chunk-no", String(index)), ("chunk-sha256", descriptor.chunkHashes[index].hexString),
            ("chunk-pos", String(offset)), ("chunk-len", String(length))
        ]
        let head = form.head + form.fileHead(filename: "descriptor.txt"), tail = form.tail
        var used = 0
        func put(_ bytes: [UInt8]) {
            bytes.withUnsafeBytes { buffer.baseAddress!.advanced(by: used).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            used += bytes.count
        }
        put(head)
        let data = UnsafeMutableRawBufferPointer(rebasing: buffer[used..<used + length])
        var done = 0
        while done < length {
            let n = pread(fd, data.baseAddress! + done, length - done, off_t(offset) + off_t(done))
            if n < 0, errno == EINTR { continue }
            if n < 0 { throw .io(path: path, operation: "read of chunk \(index)", errno: errno) }
            if n == 0 { throw .fileChanged(path: path, detail: "it ends before chunk \(index)'s \(length) bytes at offset \(offset)") }
            done += n
        }
        guard SHA256.hash(UnsafeRawBufferPointer(data)) == descriptor.chunkHashes[index] else {
            throw .fileChanged(path: path, detail: "chunk \(index) no longer has the SHA-256 it was hashed with")
        }
        used += length
        put(tail)
        let r = try client.send(
            "POST", "/v1/image/push/chunk", headers: [form.contentType],
            body: UnsafeRawBufferPointer(rebasing: buffer[0..<used]))
        guard (200..<300).contains(r.status) else { throw .chunkRejected(index: index, status: r.status, message: client.message(r)) }
        state.withLock {
            $0.sent += UInt64(length)
            progress($0.sent, total)
        }
    }
}
