// Writing a complete .gvmi: squashfs image, then the metadata trailer, then hashes; all into a
// temporary file that replaces the target only when everything succeeded.
import ImageSpec
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// What writing a .gvmi produced: its path, size, hashes and squashfs summary.
public struct GVMIResult: Sendable {
    public var path: String
    public var size: UInt64
    /// Golem's image hash: SHA3-224 of the whole file.
    public var sha3_224: String
    public var sha256: String
    public var squashfs: SquashFSSummary
    public var compression: Compression
    /// With `chunkSize` given to `write`: the SHA-256 of each chunk of that size (the Golem
    /// registry's descriptor), from the same read-back as the image hashes.
    public var chunkSize: UInt64?
    public var chunkSHA256: [[UInt8]] = []
    /// The squashfs came from the image store (an earlier build of the same tree).
    public var reusedSquashFS = false
}

/// Writes a complete .gvmi (squashfs, then the metadata trailer) and hashes it.
public enum GVMIImageWriter {
    /// Builds the image: `populate` adds the root filesystem's entries to the writer.
    /// `chunkSize` (a function of the file's size), when given, also hashes the image in chunks
    /// for an upload to the Golem registry.
    /// `imageStore`: the entry of the tree being written; its squashfs is used when the store
    /// has it (`populate` is not called then), and the squashfs written is stored otherwise.
    /// `hashes`: where the image's hashes are recorded for a later `gvmc push` (with chunks of
    /// `chunkSize`, else of gvmkit-build's size for the file).
    /// `naming`: the file's final path from its SHA3-224 (in the directory of `path`), for names
    /// that carry the image hash; `path` when nil.
    public static func write(
        to path: String, options: SquashFSOptions, config: ContainerConfig,
        chunkSize: ((UInt64) -> UInt64)? = nil, imageStore: ImageStoreEntry? = nil, hashes: ImageHashStore? = nil,
        naming: ((String) -> String)? = nil,
        populate: (SquashFSWriter) throws -> Void
    ) throws -> GVMIResult {
        let chunkSize = chunkSize ?? (hashes == nil ? nil : { ChunkedSHA256.defaultChunkSize(fileSize: $0) })
        let output = try OutputFile(target: path)
        var st = stat()
        guard fstat(output.fileDescriptor, &st) == 0 else {
            output.discard()
            throw SquashFSError.io(path: output.temporaryPath, operation: "fstat", errno: errno)
        }
        // Commits the file under its final name; records its hashes.
        func commit(_ written: GVMIResult) throws -> GVMIResult {
            var result = written
            result.path = naming?(result.sha3_224) ?? path
            try output.commit(as: result.path)
            if let hashes, let size = result.chunkSize {
                hashes.save(
                    path: result.path, device: UInt64(st.st_dev), inode: UInt64(st.st_ino), sha3_224: result.sha3_224,
                    chunkSize: size, chunkSHA256: result.chunkSHA256)
            }
            return result
        }
        do {
            let trailer = try GVMITrailer.encode(json: config.trailerJSON())
            if let imageStore, let stored = ImageStore.load(imageStore) {
                if let result = try reuse(stored, imageStore, output: output, trailer: trailer, chunkSize: chunkSize, options: options) {
                    return try commit(result)
                }
                try output.truncate(to: 0)
            }
            let writer = try SquashFSWriter(output: output, options: options)
            try populate(writer)
            let summary = try writer.finish()
            try output.write(trailer, at: summary.fileSize)
            let size = summary.fileSize + UInt64(trailer.count)
            let chunks = chunkSize.map { ChunkedSHA256(chunkSize: $0(size), fileSize: size) }
            let (sha3, sha256, chunkHashes, atSquashFSEnd) = try Self.hashes(output, size: size, chunks: chunks, boundary: summary.fileSize)
            if let imageStore, let (prefixSHA256, sha3State) = atSquashFSEnd {
                ImageStore.save(
                    imageStore, imagePath: output.temporaryPath, fd: output.fileDescriptor,
                    meta: StoredImage(summary: summary, sha256: prefixSHA256, sha3: sha3State))
            }
            return try commit(
                GVMIResult(
                    path: path, size: size, sha3_224: sha3, sha256: sha256, squashfs: summary,
                    compression: options.compression.algorithm, chunkSize: chunkHashes?.chunkSize,
                    chunkSHA256: chunkHashes?.hashes ?? []))
        } catch {
            output.discard()
            throw error
        }
    }

    /// The stored squashfs copied into `output` and checked, then the trailer; nil (and the
    /// entry removed) when the copy does not match what was recorded.
    static func reuse(
        _ stored: (path: String, meta: StoredImage, sha3: SHA3_224), _ entry: ImageStoreEntry, output: OutputFile,
        trailer: [UInt8], chunkSize: ((UInt64) -> UInt64)?, options: SquashFSOptions
    ) throws -> GVMIResult? {
        let squashfsSize = stored.meta.squashfsSize
        let size = squashfsSize + UInt64(trailer.count)
        let input = open(stored.path, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { ImageStore.discard(entry); return nil }
        defer { close(input) }
        var sha256 = SHA256()
        var chunks = chunkSize.map { ChunkedSHA256(chunkSize: $0(size), fileSize: size) }
        var writeFailure: SquashFSError?
        var offset: UInt64 = 0
        let failed = forEachChunk(fd: input, size: squashfsSize) { block in
            guard writeFailure == nil else { return }
            do throws(SquashFSError) { try output.write(block, at: offset) } catch { writeFailure = error; return }
            sha256.update(block)
            chunks?.update(block)
            offset += UInt64(block.count)
        }
        if let writeFailure { throw writeFailure }
        var prefix = sha256
        guard failed == 0, prefix.finalize().hexString == stored.meta.squashfsSHA256 else {
            ImageStore.discard(entry)
            return nil
        }
        try output.write(trailer, at: squashfsSize)
        var sha3 = stored.sha3
        trailer.withUnsafeBytes { t in
            sha3.update(t); sha256.update(t); chunks?.update(t)
        }
        try output.truncate(to: size)
        var result = GVMIResult(
            path: output.targetPath, size: size, sha3_224: sha3.finalize().hexString, sha256: sha256.finalize().hexString,
            squashfs: stored.meta.summary, compression: options.compression.algorithm,
            chunkSize: chunks?.chunkSize, chunkSHA256: chunks?.hashes ?? [])
        result.reusedSquashFS = true
        return result
    }

    /// SHA3-224 and SHA-256 of the file (and of its chunks), read back in large blocks; SHA3 on
    /// one thread, the SHA-256s on another. At `boundary` (the squashfs's end) also the SHA-256
    /// of the bytes before it and the SHA3 state there (for the image store).
    static func hashes(
        _ output: OutputFile, size: UInt64, chunks: ChunkedSHA256?, boundary: UInt64
    )
        throws -> (String, String, ChunkedSHA256?, (String, SHA3_224)?)
    {
        let fd = output.fileDescriptor
        // Each field is written by one hash thread and read after both are joined.
        final class Box: @unchecked Sendable {
            var digest: [UInt8] = []; var failed: Int32 = 0; var chunks: ChunkedSHA256?; var prefix: String?
        }
        let box = Box()
        box.chunks = chunks
        let sha256Thread = HashThread {
            var sha256 = SHA256()
            box.failed = forEachChunk(fd: fd, size: size, boundary: boundary) { block, atBoundary in
                if atBoundary { var copy = sha256; box.prefix = copy.finalize().hexString }
                sha256.update(block)
                box.chunks?.update(block)
            }
            box.digest = sha256.finalize()
        }
        sha256Thread.start()
        var sha3 = SHA3_224()
        var sha3AtBoundary: SHA3_224?
        let failed = forEachChunk(fd: fd, size: size, boundary: boundary) { block, atBoundary in
            if atBoundary { sha3AtBoundary = sha3 }
            sha3.update(block)
        }
        sha256Thread.join()
        if failed != 0 || box.failed != 0 {
            throw SquashFSError.io(path: output.temporaryPath, operation: "read back for hashing", errno: failed != 0 ? failed : box.failed)
        }
        let atBoundary = box.prefix.flatMap { p in sha3AtBoundary.map { (p, $0) } }
        return (sha3.finalize().hexString, box.digest.hexString, box.chunks, atBoundary)
    }

    /// Calls `body` with consecutive chunks of the file; returns 0 or an errno.
    public static func forEachChunk(fd: Int32, size: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> Int32 {
        forEachChunk(fd: fd, size: size, boundary: nil) { block, _ in body(block) }
    }

    /// The same, with a chunk starting exactly at `boundary` (flagged true).
    static func forEachChunk(fd: Int32, size: UInt64, boundary: UInt64?, _ body: (UnsafeRawBufferPointer, Bool) -> Void) -> Int32 {
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < size {
            var length = min(UInt64(chunk), size - offset)
            if let boundary, offset < boundary, offset + length > boundary { length = boundary - offset }
            let n = pread(fd, buffer.baseAddress, Int(length), off_t(offset))
            if n < 0 { if errno == EINTR { continue }; return errno }
            if n == 0 { return EIO }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), offset == boundary)
            offset += UInt64(n)
        }
        return 0
    }
}
