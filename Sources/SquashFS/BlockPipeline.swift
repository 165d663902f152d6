// Parallel block compression with in-order output: the producer (the thread feeding the writer)
// submits blocks; worker threads compress them; completed blocks are handed back strictly in
// submission order. The number of blocks in flight is bounded, so memory does not grow with
// the image.
#if canImport(Glibc)
import Glibc
#endif

/// One block to compress. Sendable without checks: its mutable fields are written by the worker
/// that compresses it and read by the writer only after `done`, both under the pipeline's lock.
final class BlockJob: @unchecked Sendable {
    let sequence: Int
    /// The uncompressed data (owned; freed after completion is consumed).
    let input: UnsafeMutableRawBufferPointer
    let tag: BlockTag
    var compressed: UnsafeMutableRawBufferPointer?
    var compressedSize: Int?
    var done = false

    init(sequence: Int, input: UnsafeMutableRawBufferPointer, tag: BlockTag) {
        self.sequence = sequence; self.input = input; self.tag = tag
    }

    /// The bytes to write and the size word for the block list / fragment entry.
    var output: (UnsafeRawBufferPointer, UInt32) {
        if let compressed, let size = compressedSize {
            return (UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(compressed)[0..<size]), UInt32(size))
        }
        return (UnsafeRawBufferPointer(input), UInt32(input.count) | Format.dataUncompressed)
    }

    func release() {
        input.deallocate()
        compressed?.deallocate()
    }
}

/// What a block is, so the writer knows where its position and size belong.
enum BlockTag {
    case data(file: FileData)
    case fragment(index: Int)
    /// A sparse (all-zero) block: nothing is written, its size is 0.
    case sparse(file: FileData)
    /// The end of a file's blocks: lets the writer undo a duplicate's blocks.
    case endOfFile(file: FileData)
}

/// Sendable without checks: every mutable field is read and written under `lock`; the workers
/// wait on the conditions, which need a pthread mutex (Synchronization.Mutex has no condition).
final class BlockPipeline: @unchecked Sendable {
    private let compressor: BlockCompressor
    private let lock = Lock()
    private let workAvailable = Condition()
    private let resultReady = Condition()
    private var queue: [BlockJob] = []
    private var queueHead = 0
    private var inFlight: [Int: BlockJob] = [:]
    private var nextToDeliver = 0
    private var nextSequence = 0
    private var stopping = false
    private var threads: [pthread_t] = []
    let maxInFlight: Int

    private let store: BlockStore?

    init(compressor: BlockCompressor, workers: Int, store: BlockStore? = nil) {
        self.compressor = compressor
        self.store = store
        self.maxInFlight = max(4, workers * 4)
        for _ in 0..<max(1, workers) {
            var thread = pthread_t()
            let box = Unmanaged.passRetained(self)
            pthread_create(
                &thread, nil,
                { arg in
                    let pipeline = Unmanaged<BlockPipeline>.fromOpaque(arg!).takeRetainedValue()
                    pipeline.workerLoop()
                    return nil
                }, box.toOpaque())
            threads.append(thread)
        }
    }

    /// Submits a job; blocks while too many are in flight, delivering finished ones in order to
    /// `deliver` meanwhile (called on this thread).
    func submit(
        _ input: UnsafeMutableRawBufferPointer, tag: BlockTag, compress: Bool,
        deliver: (BlockJob) throws -> Void
    ) rethrows {
        lock.withLock {
            let job = BlockJob(sequence: nextSequence, input: input, tag: tag)
            nextSequence += 1
            inFlight[job.sequence] = job
            if compress {
                queue.append(job)
                workAvailable.broadcast()
            } else {
                job.done = true
            }
        }
        try drain(blocking: false, deliver: deliver)
        while lock.withLock({ inFlight.count >= maxInFlight }) {
            try drain(blocking: true, deliver: deliver)
        }
    }

    /// Delivers finished jobs in order. Blocking: waits for at least the next one.
    func drain(blocking: Bool, deliver: (BlockJob) throws -> Void) rethrows {
        while true {
            let job: BlockJob? = lock.withLock {
                if blocking {
                    while let j = inFlight[nextToDeliver], !j.done { resultReady.wait(lock) }
                }
                guard let j = inFlight[nextToDeliver], j.done else { return nil }
                inFlight[nextToDeliver] = nil
                nextToDeliver += 1
                return j
            }
            guard let job else { return }
            defer { job.release() }
            try deliver(job)
            if blocking { return }
        }
    }

    /// Delivers everything still in flight.
    func flush(deliver: (BlockJob) throws -> Void) rethrows {
        while lock.withLock({ !inFlight.isEmpty }) {
            try drain(blocking: true, deliver: deliver)
        }
    }

    /// Stops the workers (after a flush, or to abandon work on error).
    func shutdown() {
        lock.withLock {
            stopping = true
            workAvailable.broadcast()
        }
        for t in threads { pthread_join(t, nil) }
        threads.removeAll()
        lock.withLock {
            for (_, job) in inFlight { job.release() }
            inFlight.removeAll()
        }
    }

    private func workerLoop() {
        let context = compressor.makeContext()
        while true {
            let job: BlockJob? = lock.withLock {
                while queueHead == queue.count && !stopping { workAvailable.wait(lock) }
                if stopping && queueHead == queue.count { return nil }
                let j = queue[queueHead]
                queueHead += 1
                if queueHead > 1024 && queueHead * 2 > queue.count {
                    queue.removeFirst(queueHead); queueHead = 0
                }
                return j
            }
            guard let job else { return }
            let bound = compressor.bound(job.input.count)
            let input = UnsafeRawBufferPointer(job.input)
            let key = store?.key(input)
            if let store, let key, let entry = store.load(key, bound: bound) {
                lock.withLock {
                    if case .compressed(let bytes, let size) = entry { job.compressed = bytes; job.compressedSize = size }
                    job.done = true
                    resultReady.broadcast()
                }
                continue
            }
            let out = UnsafeMutableRawBufferPointer.allocate(byteCount: bound, alignment: 16)
            let size = compressor.compress(input, into: out, context: context)
            if let store, let key {
                store.save(key, compressed: size.map { UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(out)[0..<$0]) })
            }
            lock.withLock {
                if let size { job.compressed = out; job.compressedSize = size } else { out.deallocate() }
                job.done = true
                resultReady.broadcast()
            }
        }
    }
}
