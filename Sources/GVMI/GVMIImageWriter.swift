// Writing a complete .gvmi: squashfs image, then the metadata trailer, then hashes; all into a
// temporary file that replaces the target only when everything succeeded.
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

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
}

public enum GVMIImageWriter {
    /// Builds the image: `populate` adds the root filesystem's entries to the writer.
    /// `chunkSize` (a function of the file's size), when given, also hashes the image in chunks
    /// for an upload to the Golem registry.
    public static func write(to path: String, options: SquashFSOptions, config: ContainerConfig,
                             chunkSize: ((UInt64) -> UInt64)? = nil,
                             populate: (SquashFSWriter) throws -> Void) throws -> GVMIResult {
        let output = try OutputFile(target: path)
        do {
            let writer = try SquashFSWriter(output: output, options: options)
            try populate(writer)
            let summary = try writer.finish()
            let trailer = try GVMITrailer.encode(json: config.jsonBytes())
            try output.write(trailer, at: summary.fileSize)
            let size = summary.fileSize + UInt64(trailer.count)
            let chunks = chunkSize.map { ChunkedSHA256(chunkSize: $0(size), fileSize: size) }
            let (sha3, sha256, chunkHashes) = try hashes(output, size: size, chunks: chunks)
            try output.commit()
            return GVMIResult(path: path, size: size, sha3_224: sha3, sha256: sha256, squashfs: summary,
                              compression: options.compression.algorithm, chunkSize: chunkHashes?.chunkSize,
                              chunkSHA256: chunkHashes?.hashes ?? [])
        } catch {
            output.discard()
            throw error
        }
    }

    /// SHA3-224 and SHA-256 of the file (and of its chunks), read back in large blocks; SHA3 on
    /// one thread, the SHA-256s on another.
    static func hashes(_ output: OutputFile, size: UInt64, chunks: ChunkedSHA256?) throws -> (String, String, ChunkedSHA256?) {
        let fd = output.fileDescriptor
        final class Box: @unchecked Sendable { var digest: [UInt8] = []; var failed: Int32 = 0; var chunks: ChunkedSHA256? }
        let box = Box()
        box.chunks = chunks
        let sha256Thread = HashThread {
            var sha256 = SHA256()
            box.failed = forEachChunk(fd: fd, size: size) { block in
                sha256.update(block)
                box.chunks?.update(block)
            }
            box.digest = sha256.finalize()
        }
        sha256Thread.start()
        var sha3 = SHA3_224()
        let failed = forEachChunk(fd: fd, size: size) { sha3.update($0) }
        sha256Thread.join()
        if failed != 0 || box.failed != 0 {
            throw SquashFSError.io(path: output.temporaryPath, operation: "read back for hashing", errno: failed != 0 ? failed : box.failed)
        }
        return (sha3.finalize().hexString, box.digest.hexString, box.chunks)
    }

    /// Calls `body` with consecutive chunks of the file; returns 0 or an errno.
    static func forEachChunk(fd: Int32, size: UInt64, _ body: (UnsafeRawBufferPointer) -> Void) -> Int32 {
        let chunk = 4 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 64)
        defer { buffer.deallocate() }
        var offset: UInt64 = 0
        while offset < size {
            let n = pread(fd, buffer.baseAddress, Int(min(UInt64(chunk), size - offset)), off_t(offset))
            if n < 0 { if errno == EINTR { continue }; return errno }
            if n == 0 { return EIO }
            body(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            offset += UInt64(n)
        }
        return 0
    }
}
