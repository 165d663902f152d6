// The chunk upload of a push: the chunks the registry lacks, `workers` at a time, each worker a
// thread with its own connection and one chunk-sized body buffer (memory: workers × chunk size).
// A chunk is read from the file just before it is sent and checked against the descriptor's
// SHA-256, so a file changed since it was hashed is caught here rather than by the registry.
import Foundation
import SquashFS

final class ChunkUploader: @unchecked Sendable {
    let registry: String
    let retry: RetryPolicy
    let descriptor: ImageDescriptor
    let id: String
    let fd: Int32
    let path: String
    let progress: TransferProgress
    let log: @Sendable (String) -> Void
    private let lock = NSLock()
    private var queue: [Int] = []
    private var failure: GolemRegistryError?

    init(registry: String, retry: RetryPolicy, descriptor: ImageDescriptor, fd: Int32, path: String,
         progress: TransferProgress, log: @escaping @Sendable (String) -> Void) {
        self.registry = registry
        self.retry = retry
        self.descriptor = descriptor
        self.id = descriptor.id
        self.fd = fd
        self.path = path
        self.progress = progress
        self.log = log
    }

    /// Sends chunks `indices`; the first chunk that fails after its retries stops the others.
    func upload(_ indices: [Int], workers: Int) throws(GolemRegistryError) {
        queue = indices.reversed()
        let group = DispatchGroup()
        for _ in 0..<max(1, min(workers, indices.count)) {
            group.enter()
            Thread { [self] in
                defer { group.leave() }
                work()
            }.start()
        }
        group.wait()
        if let failure { throw failure }
    }

    private func next() -> Int? {
        lock.lock(); defer { lock.unlock() }
        return failure == nil ? queue.popLast() : nil
    }

    private func fail(_ error: GolemRegistryError) {
        lock.lock(); defer { lock.unlock() }
        if failure == nil { failure = error }
    }

    private func work() {
        do throws(GolemRegistryError) {
            let client = try GolemRegistryClient(registry: registry, retry: retry)
            client.log = log
            var body: [UInt8] = []
            body.reserveCapacity(Int(descriptor.chunkSize) + 2048)
            while let index = next() { try send(index, client, &body) }
        } catch {
            fail(error)
        }
    }

    private func send(_ index: Int, _ client: GolemRegistryClient, _ body: inout [UInt8]) throws(GolemRegistryError) {
        let (offset, length) = descriptor.chunk(index)
        var form = MultipartForm()
        form.fields = [("descr-sha256", id), ("chunk-no", String(index)), ("chunk-sha256", descriptor.chunkHashes[index].hexString),
                       ("chunk-pos", String(offset)), ("chunk-len", String(length))]
        body.removeAll(keepingCapacity: true)
        body.append(contentsOf: form.head)
        body.append(contentsOf: form.fileHead(filename: "descriptor.txt"))
        let start = body.count
        body.append(contentsOf: repeatElement(0, count: length))
        let readError: Int32? = body.withUnsafeMutableBytes { b in
            var done = 0
            while done < length {
                let n = pread(fd, b.baseAddress! + start + done, length - done, off_t(offset) + off_t(done))
                if n < 0, errno == EINTR { continue }
                if n < 0 { return errno }
                if n == 0 { return 0 }
                done += n
            }
            return nil
        }
        if let e = readError {
            if e == 0 { throw .fileChanged(path: path, detail: "it ends before chunk \(index)'s \(length) bytes at offset \(offset)") }
            throw .io(path: path, operation: "read of chunk \(index)", errno: e)
        }
        let hash = body.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[start..<start + length])) }
        guard hash == descriptor.chunkHashes[index] else {
            throw .fileChanged(path: path, detail: "chunk \(index) no longer has the SHA-256 it was hashed with")
        }
        body.append(contentsOf: form.tail)
        let r = try client.send("POST", "/v1/image/push/chunk", headers: [form.contentType], body: body)
        guard (200..<300).contains(r.status) else { throw .chunkRejected(index: index, status: r.status, message: client.message(r)) }
        progress.advance(length)
    }
}
