// Block compressors squashfs supports, over the C libraries (libdeflate and zlib, liblzma,
// liblz4, liblzo2, libzstd) and gvmc's own LZO1X encoder (CLzoEncoder: lzo without a level).
// Each call is independent, so blocks compress in parallel on any thread.
import CDeflate
import CLz4
import CLzma
import CLzo
import CLzoEncoder
import CZlib
import CZstd
#if canImport(Glibc)
import Glibc
#endif

/// The squashfs compressors gvmc writes and reads.
public enum Compression: String, Sendable, CaseIterable {
    case gzip, xz, lz4, lzo, zstd

    /// The superblock's compression id.
    var id: UInt16 {
        switch self {
        case .gzip: 1;
        case .lzo: 3;
        case .xz: 4;
        case .lz4: 5;
        case .zstd: 6
        }
    }

    /// mksquashfs's default level for each compressor (nil: the compressor has no level). For
    /// gzip, libdeflate's level 6 would take half the CPU and beats zlib's 9 on binaries, but
    /// is up to 17% larger on repetitive text (measured), so the default stays 9.
    public var defaultLevel: Int? {
        switch self {
        case .gzip: 9;
        case .xz: nil;
        case .lz4: nil;
        case .lzo: 8;
        case .zstd: 15
        }
    }

    /// Golem's guest kernel (Alpine 5.10 config-virt) has no zstd squashfs support.
    public var readableByGolem: Bool { self != .zstd }

    init?(id: UInt16) {
        guard let c = Compression.allCases.first(where: { $0.id == id }) else { return nil }
        self = c
    }
}

/// Compression settings; `level` follows each library's scale (lz4: any value > 0 selects LZ4HC).
public struct CompressionOptions: Sendable, Equatable {
    public var algorithm: Compression
    public var level: Int?
    public init(_ algorithm: Compression = .gzip, level: Int? = nil) {
        self.algorithm = algorithm; self.level = level
    }

    var effectiveLevel: Int? { level ?? algorithm.defaultLevel }

    /// Validates the level against the compressor's range.
    public func validate() throws(SquashFSError) {
        guard let level else { return }
        let range: ClosedRange<Int>
        switch algorithm {
        case .gzip: range = 1...9
        case .xz: range = 0...9
        case .lz4: range = 1...12
        case .lzo: range = 1...9
        case .zstd: range = 1...22
        }
        guard range.contains(level) else {
            throw .badOption("compression level \(level) is out of range \(range.lowerBound)-\(range.upperBound) for \(algorithm.rawValue)")
        }
    }

    /// The compressor-options block mksquashfs writes after the superblock (nil: none needed).
    func optionsBlock(blockSize: Int) -> [UInt8]? {
        var w = ByteWriter()
        switch algorithm {
        case .gzip:
            guard let level = effectiveLevel, level != 9 else { return nil }
            w.u32(UInt32(level)); w.u16(15); w.u16(0)
        case .xz:
            // xz options record only dictionary size and filters, both left at the defaults;
            // squashfs does not record the level, so there is nothing to write.
            return nil
        case .lz4:
            w.u32(1)  // LZ4_LEGACY: the only version the kernel accepts; options are mandatory.
            w.u32(level != nil ? 1 : 0)  // LZ4_HC flag
        case .lzo:
            guard let level = effectiveLevel, level != 8 else { return nil }
            w.u32(4); w.u32(UInt32(level))  // algorithm lzo1x_999, level
        case .zstd:
            guard let level = effectiveLevel, level != 15 else { return nil }
            w.u32(UInt32(level))
        }
        return w.bytes
    }
}

/// Compresses one block. Returns nil when the result would not be smaller (store it raw).
struct BlockCompressor: Sendable {
    let options: CompressionOptions
    let blockSize: Int

    /// An upper bound of the output size for an input of `n` bytes.
    func bound(_ n: Int) -> Int {
        switch options.algorithm {
        case .gzip: return Int(compressBound(uLong(n)))
        case .xz: return Int(lzma_stream_buffer_bound(n))
        case .lz4: return Int(LZ4_compressBound(Int32(n)))
        case .lzo: return n + n / 16 + 64 + 3
        case .zstd: return Int(ZSTD_compressBound(n))
        }
    }

    /// Per-thread state, reused across blocks (libdeflate compressor, zstd context, lz4 and lzo work memory).
    func makeContext() -> CompressionContext { CompressionContext(options: options, blockSize: blockSize) }

    func compress(
        _ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer,
        context: CompressionContext
    ) -> Int? {
        let n = input.count
        guard n > 0 else { return nil }
        let src = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        if options.algorithm != .lz4 && isIncompressible(input, context: context) { return nil }
        var produced = 0
        switch options.algorithm {
        case .gzip:
            // A zlib-format stream with a 32 KiB window, as the kernel's zlib inflates it.
            let r = libdeflate_zlib_compress(context.deflater, input.baseAddress, n, output.baseAddress, output.count)
            guard r > 0 else { return nil }
            produced = r
        case .xz:
            var filters = [lzma_filter](repeating: lzma_filter(id: gvmc_lzma_vli_unknown(), options: nil), count: 2)
            var outPos = 0
            let rc = withUnsafeMutablePointer(to: &context.lzmaOptions) { opt -> lzma_ret in
                filters[0] = lzma_filter(id: gvmc_lzma_filter_lzma2(), options: UnsafeMutableRawPointer(opt))
                return lzma_stream_buffer_encode(&filters, LZMA_CHECK_CRC32, nil, src, n, dst, &outPos, output.count)
            }
            guard rc == LZMA_OK else { return nil }
            produced = outPos
        case .lz4:
            let r: Int32
            if let level = options.level {
                r = LZ4_compress_HC_extStateHC(
                    context.scratch, input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    output.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(n), Int32(output.count), Int32(level))
            } else {
                r = LZ4_compress_fast_extState(
                    context.scratch, input.baseAddress!.assumingMemoryBound(to: CChar.self),
                    output.baseAddress!.assumingMemoryBound(to: CChar.self),
                    Int32(n), Int32(output.count), 1)
            }
            guard r > 0 else { return nil }
            produced = Int(r)
        case .lzo:
            if let level = options.level {
                var outLen = lzo_uint(output.count)
                let rc = lzo1x_999_compress_level(src, lzo_uint(n), dst, &outLen, context.scratch, nil, 0, nil, Int32(level))
                guard rc == LZO_E_OK else { return nil }
                produced = Int(outLen)
            } else {
                produced = gvmc_lzo_encode(context.lzoEncoder!, src, n, dst, min(output.count, n))
                guard produced > 0 else { return nil }
            }
        case .zstd:
            let r = ZSTD_compressCCtx(
                context.zstd, output.baseAddress, output.count, input.baseAddress, n,
                Int32(options.effectiveLevel ?? 15))
            guard ZSTD_isError(r) == 0 else { return nil }
            produced = r
        }
        return produced < n ? produced : nil
    }

    /// Already-compressed data (.deb packages, .gz manual pages, images): an order-0 entropy
    /// above 7.9 bits per byte and nothing LZ4 finds to match. xz, zlib and lzo1x_999 spend as
    /// long on such a block as on any other and gain next to nothing (on a Debian minbase rootfs
    /// these blocks are a fifth of the bytes, and xz shrinks them by 0.015% in all), so they are
    /// stored as they are, which squashfs does anyway for a block that does not shrink. The LZ4
    /// probe catches high-entropy data that repeats itself within the block.
    func isIncompressible(_ input: UnsafeRawBufferPointer, context: CompressionContext) -> Bool {
        let n = input.count
        guard n >= 4096 else { return false }
        var counts = [Int](repeating: 0, count: 1024)
        counts.withUnsafeMutableBufferPointer { c in
            var i = 0
            while i + 4 <= n {
                c[Int(input[i])] += 1
                c[256 + Int(input[i + 1])] += 1
                c[512 + Int(input[i + 2])] += 1
                c[768 + Int(input[i + 3])] += 1
                i += 4
            }
            while i < n { c[Int(input[i])] += 1; i += 1 }
        }
        var sum = 0.0
        for b in 0..<256 {
            let c = Double(counts[b] + counts[256 + b] + counts[512 + b] + counts[768 + b])
            if c > 0 { sum += c * log2(c) }
        }
        let entropy = log2(Double(n)) - sum / Double(n)
        guard entropy > 7.9 else { return false }
        let probe = context.probe(capacity: Int(LZ4_compressBound(Int32(n))))
        let r = LZ4_compress_fast_extState(
            probe.state, input.baseAddress!.assumingMemoryBound(to: CChar.self),
            probe.output.assumingMemoryBound(to: CChar.self), Int32(n), probe.capacity, 1)
        return r <= 0 || Double(r) > Double(n) * 0.98
    }

    /// Decompresses one block (used to verify and by the reader).
    func decompress(_ input: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int? {
        let src = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
        let dst = output.baseAddress!.assumingMemoryBound(to: UInt8.self)
        switch options.algorithm {
        case .gzip:
            var destLen = uLongf(output.count)
            guard uncompress(dst, &destLen, src, uLong(input.count)) == Z_OK else { return nil }
            return Int(destLen)
        case .xz:
            // A hostile header may declare a dictionary of gigabytes; a block is at most 1 MiB.
            var memlimit: UInt64 = 64 << 20
            var inPos = 0, outPos = 0
            guard lzma_stream_buffer_decode(&memlimit, 0, nil, src, &inPos, input.count, dst, &outPos, output.count) == LZMA_OK else {
                return nil
            }
            return outPos
        case .lz4:
            let r = LZ4_decompress_safe(
                input.baseAddress!.assumingMemoryBound(to: CChar.self),
                output.baseAddress!.assumingMemoryBound(to: CChar.self),
                Int32(input.count), Int32(output.count))
            return r >= 0 ? Int(r) : nil
        case .lzo:
            var outLen = lzo_uint(output.count)
            guard lzo1x_decompress_safe(src, lzo_uint(input.count), dst, &outLen, nil) == LZO_E_OK else { return nil }
            return Int(outLen)
        case .zstd:
            let r = ZSTD_decompress(output.baseAddress, output.count, input.baseAddress, input.count)
            return ZSTD_isError(r) == 0 ? r : nil
        }
    }
}

/// One thread's compressor state. Not shared between threads.
final class CompressionContext {
    var deflater: OpaquePointer?
    var zstd: OpaquePointer?
    var lzoEncoder: OpaquePointer?
    var scratch: UnsafeMutableRawPointer?
    var lzmaOptions = lzma_options_lzma()
    private var probeState: UnsafeMutableRawPointer?
    private var probeOutput: UnsafeMutableRawPointer?
    private var probeCapacity: Int32 = 0

    /// LZ4 state and output for the incompressibility probe, made on first use.
    func probe(capacity: Int) -> (state: UnsafeMutableRawPointer, output: UnsafeMutableRawPointer, capacity: Int32) {
        if probeState == nil { probeState = UnsafeMutableRawPointer.allocate(byteCount: Int(LZ4_sizeofState()), alignment: 16) }
        if Int(probeCapacity) < capacity {
            probeOutput?.deallocate()
            probeOutput = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 16)
            probeCapacity = Int32(capacity)
        }
        return (probeState!, probeOutput!, probeCapacity)
    }

    init(options: CompressionOptions, blockSize: Int) {
        switch options.algorithm {
        case .gzip:
            deflater = libdeflate_alloc_compressor(Int32(options.effectiveLevel ?? 9))
        case .xz:
            _ = lzma_lzma_preset(&lzmaOptions, UInt32(options.level ?? 6))
            lzmaOptions.dict_size = UInt32(max(blockSize, 8192))
        case .lz4:
            let size = options.level != nil ? Int(LZ4_sizeofStateHC()) : Int(LZ4_sizeofState())
            scratch = UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16)
        case .lzo:
            if options.level != nil {
                scratch = UnsafeMutableRawPointer.allocate(byteCount: Int(gvmc_lzo1x_999_mem_compress()) + 64, alignment: 16)
            } else {
                lzoEncoder = gvmc_lzo_encoder_new()
            }
        case .zstd:
            zstd = ZSTD_createCCtx()
        }
    }

    deinit {
        if let deflater { libdeflate_free_compressor(deflater) }
        if let zstd { ZSTD_freeCCtx(zstd) }
        if let lzoEncoder { gvmc_lzo_encoder_free(lzoEncoder) }
        scratch?.deallocate()
        probeState?.deallocate()
        probeOutput?.deallocate()
    }
}
