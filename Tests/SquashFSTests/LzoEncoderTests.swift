// gvmc's LZO1X encoder (lzo's default) against the references: liblzo2's own decompressor must
// read every stream back exactly, the kernel must mount an image of varied content, and the
// output must not be larger than liblzo2's lzo1x_999 at mksquashfs's level 8.
import CLzo
import CLzoEncoder
import Foundation
import SquashFS
import Testing

struct LzoEncoderTests {
    /// Inputs that exercise every instruction: text with short and long repeats, runs longer
    /// than one length byte, zeros, incompressible noise, machine code, and awkward sizes
    /// around the format's thresholds (3/4/18/238/239 literals, 255-multiples, 48 KiB distances).
    static func inputs() -> [(String, [UInt8])] {
        var rng = SystemRandomNumberGenerator()
        var out: [(String, [UInt8])] = []
        let words = ["alpha ", "beta ", "gamma ", "import os\n", "def f(x):\n", "    return x\n", "{\"key\": 1}, "]
        var text: [UInt8] = []
        while text.count < 131_072 { text += Array(words[Int.random(in: 0..<words.count, using: &rng)].utf8) }
        out.append(("text", Array(text.prefix(131_072))))
        out.append(("zeros", [UInt8](repeating: 0, count: 131_072)))
        out.append(("noise", (0..<131_072).map { _ in UInt8.random(in: 0...255, using: &rng) }))
        // A far repeat: 40 KiB of noise twice (an M4 distance), then a near one.
        let far = (0..<40_000).map { _ in UInt8.random(in: 0...255, using: &rng) }
        out.append(("far", far + far + Array(far.prefix(5000))))
        // Literal runs of every length up to 600 between short matches.
        var runs: [UInt8] = []
        for k in 0..<600 where runs.count < 120_000 {
            runs += (0..<k).map { _ in UInt8.random(in: 0...255, using: &rng) }
            runs += Array("match!".utf8)
        }
        out.append(("runs", runs))
        for size in [1, 2, 3, 4, 5, 17, 18, 19, 238, 239, 240, 255, 256, 510, 4096] {
            out.append(("noise-\(size)", (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }))
            out.append(("text-\(size)", Array(text.prefix(size))))
            out.append(("zeros-\(size)", [UInt8](repeating: 7, count: size)))
        }
        for binary in ["/bin/bash", "/usr/bin/python3", "/bin/ls"] {
            if let data = FileManager.default.contents(atPath: (binary as NSString).resolvingSymlinksInPath) {
                let bytes = [UInt8](data)
                for start in stride(from: 0, to: min(bytes.count, 1 << 20), by: 131_072) {
                    out.append(("\(binary)@\(start)", Array(bytes[start..<min(start + 131_072, bytes.count)])))
                }
            }
        }
        return out
    }

    @Test func liblzo2DecodesEveryStreamExactlyAndItIsNoLargerThanLzo1x999() throws {
        let encoder = try #require(gvmc_lzo_encoder_new())
        defer { gvmc_lzo_encoder_free(encoder) }
        let work = UnsafeMutableRawPointer.allocate(byteCount: Int(gvmc_lzo1x_999_mem_compress()) + 64, alignment: 16)
        defer { work.deallocate() }
        var ours = 0, reference = 0
        for (name, input) in Self.inputs() {
            let n = input.count
            var out = [UInt8](repeating: 0, count: n + n / 16 + 67)
            let size = out.withUnsafeMutableBufferPointer { o in gvmc_lzo_encode(encoder, input, n, o.baseAddress, o.count) }
            try #require(size > 0, "\(name): no output")
            #expect(out[0] != 17, "\(name): a stream starting with 17 announces LZO-RLE to the kernel")
            var back = [UInt8](repeating: 0, count: n + 64)
            var backLength = lzo_uint(back.count)
            let rc = back.withUnsafeMutableBufferPointer { b in lzo1x_decompress_safe(out, lzo_uint(size), b.baseAddress, &backLength, nil)
            }
            #expect(
                rc == LZO_E_OK && Int(backLength) == n && Array(back.prefix(n)) == input,
                "\(name): liblzo2 reads back rc=\(rc) \(backLength)/\(n)")
            var refOut = [UInt8](repeating: 0, count: n + n / 16 + 67)
            var refLength = lzo_uint(refOut.count)
            _ = refOut.withUnsafeMutableBufferPointer { o in
                lzo1x_999_compress_level(input, lzo_uint(n), o.baseAddress, &refLength, work, nil, 0, nil, 8)
            }
            if n >= 4096 {
                ours += min(size, n); reference += min(Int(refLength), n)
                #expect(
                    Double(min(size, n)) <= Double(min(Int(refLength), n)) * 1.02 + 16,
                    "\(name): \(size) bytes against lzo1x_999's \(refLength)")
            }
        }
        #expect(ours <= reference, "in all \(ours) bytes against lzo1x_999 level 8's \(reference)")
    }

    /// The kernel's own LZO decompressor reads an image of the same varied content.
    @Test(.enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"))
    func kernelMountsAnImageOfVariedContent() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        for (i, (_, bytes)) in Self.inputs().enumerated() {
            FileManager.default.createFile(atPath: tree + "/f\(i)", contents: Data(bytes))
        }
        // Whole files over several blocks as well, not only fragments.
        for (i, binary) in ["/bin/bash", "/usr/bin/python3"].enumerated() {
            try? FileManager.default.copyItem(atPath: (binary as NSString).resolvingSymlinksInPath, toPath: tree + "/bin\(i)")
        }
        try pack(tree, to: scratch.sub("image.sqfs")) { $0.compression = CompressionOptions(.lzo) }
        try expectKernelMountMatches(scratch.sub("image.sqfs"), tree, scratch: scratch)
    }
}
