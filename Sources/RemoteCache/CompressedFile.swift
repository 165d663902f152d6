// A file written through gzip (zlib) or zstd, with the SHA-256 and size of what lands on disk:
// a layer blob's digest is known the moment it is written.
import CZlib
import CZstd
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// How exported layers are compressed, with each one's OCI media type.
public enum LayerCompression: String, Sendable, CaseIterable {
    case gzip, zstd

    public var mediaType: String {
        switch self {
        case .gzip: return "application/vnd.oci.image.layer.v1.tar+gzip"
        case .zstd: return "application/vnd.oci.image.layer.v1.tar+zstd"
        }
    }
}

final class CompressedFile {
    let fd: Int32
    let path: String
    let compression: LayerCompression
    private var sha = SHA256()
    private(set) var size: Int64 = 0
    private var zlib = z_stream()
    private var zstd: OpaquePointer?
    private let output: UnsafeMutableRawBufferPointer
    private var input: [UInt8] = []

    /// Creates `path` (which must not exist).
    init(path: String, compression: LayerCompression) throws(CacheError) {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("create", path) }
        self.path = path
        self.compression = compression
        output = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 18, alignment: 16)
        input.reserveCapacity(1 << 18)
        switch compression {
        case .gzip:
            // windowBits 15 + 16: a gzip header and trailer; level 6 as Go's and BuildKit's default.
            guard deflateInit2_(&zlib, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK
            else {
                close(fd); output.deallocate()
                throw CacheError("zlib: cannot start a gzip stream")
            }
        case .zstd:
            zstd = ZSTD_createCCtx()
            ZSTD_CCtx_setParameter(zstd, ZSTD_c_compressionLevel, 3)
        }
    }

    deinit {
        switch compression {
        case .gzip: deflateEnd(&zlib)
        case .zstd: ZSTD_freeCCtx(zstd)
        }
        if fd >= 0 { close(fd) }
        output.deallocate()
    }

    /// Uncompressed bytes; buffered and compressed in 256 KiB pieces.
    func write(_ bytes: UnsafeRawBufferPointer) throws(CacheError) {
        input.append(contentsOf: bytes)
        if input.count >= 1 << 18 { try flush(final: false) }
    }

    func write(_ bytes: [UInt8]) throws(CacheError) {
        input.append(contentsOf: bytes)
        if input.count >= 1 << 18 { try flush(final: false) }
    }

    /// Ends the stream and syncs the file; returns its digest (`sha256:<hex>`) and size.
    func finish() throws(CacheError) -> (digest: String, size: Int64) {
        try flush(final: true)
        guard fsync(fd) == 0 else { throw .io("fsync", path) }
        return ("sha256:" + sha.finalize().hexString, size)
    }

    private func flush(final: Bool) throws(CacheError) {
        var failure: CacheError?
        input.withUnsafeMutableBytes { buffer in
            switch compression {
            case .gzip:
                zlib.next_in = buffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
                zlib.avail_in = uInt(buffer.count)
                while true {
                    zlib.next_out = output.baseAddress!.assumingMemoryBound(to: Bytef.self)
                    zlib.avail_out = uInt(output.count)
                    let rc = deflate(&zlib, final ? Z_FINISH : Z_NO_FLUSH)
                    if rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR {
                        failure = CacheError("zlib: deflate failed (\(rc))"); return
                    }
                    let produced = output.count - Int(zlib.avail_out)
                    do throws(CacheError) { try emit(produced) } catch { failure = error; return }
                    if final ? rc == Z_STREAM_END : (zlib.avail_in == 0 && zlib.avail_out != 0) { break }
                }
            case .zstd:
                var inBuffer = ZSTD_inBuffer(src: buffer.baseAddress, size: buffer.count, pos: 0)
                while true {
                    var outBuffer = ZSTD_outBuffer(dst: output.baseAddress, size: output.count, pos: 0)
                    let left = ZSTD_compressStream2(zstd, &outBuffer, &inBuffer, final ? ZSTD_e_end : ZSTD_e_continue)
                    if ZSTD_isError(left) != 0 { failure = CacheError("zstd: \(String(cString: ZSTD_getErrorName(left)))"); return }
                    do throws(CacheError) { try emit(outBuffer.pos) } catch { failure = error; return }
                    if final ? left == 0 : inBuffer.pos == inBuffer.size { break }
                }
            }
        }
        if let failure { throw failure }
        input.removeAll(keepingCapacity: true)
    }

    private func emit(_ count: Int) throws(CacheError) {
        guard count > 0 else { return }
        let chunk = UnsafeRawBufferPointer(rebasing: output[0..<count])
        sha.update(chunk)
        var off = 0
        while off < count {
            let n = Glibc.write(fd, chunk.baseAddress! + off, count - off)
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io("write", path) }
            off += n
        }
        size += Int64(count)
    }
}
