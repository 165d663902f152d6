// Packs a hostile git server could send, written byte by byte here: lying object counts and
// delta sizes, delta orders that make a naive resolver quadratic, and a gigabyte symlink. Each
// must end in a clear error or in a quick, bounded index, never in a crash.
import CZlib
import Crypto
import Foundation
import Testing
@testable import GitSource

/// A packfile (version 2) assembled from raw objects, with its SHA-1 trailer.
struct CraftedPack {
    var objects: [[UInt8]] = []
    /// The count in the header; the real number of objects when nil.
    var claimedCount: UInt32?

    /// An object's type-and-size header (git's variable-length encoding).
    static func header(kind: Int, size: Int) -> [UInt8] {
        var out: [UInt8] = []
        var c = UInt8(kind << 4) | UInt8(size & 15)
        var rest = size >> 4
        while rest > 0 {
            out.append(c | 0x80)
            c = UInt8(rest & 0x7f)
            rest >>= 7
        }
        return out + [c]
    }

    /// A zlib stream of `data`, repeated `times` times (without holding the repetition).
    static func zlib(_ data: [UInt8], times: Int = 1, level: Int32 = Z_BEST_SPEED) -> [UInt8] {
        var stream = z_stream()
        deflateInit_(&stream, level, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        defer { deflateEnd(&stream) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var input = data
        for n in 0..<times {
            let flush = n == times - 1 ? Z_FINISH : Z_NO_FLUSH
            input.withUnsafeMutableBufferPointer { i in
                stream.next_in = i.baseAddress
                stream.avail_in = uInt(i.count)
                repeat {
                    let rc: Int32 = buffer.withUnsafeMutableBufferPointer { o in
                        stream.next_out = o.baseAddress
                        stream.avail_out = uInt(o.count)
                        return deflate(&stream, flush)
                    }
                    out += buffer[..<(buffer.count - Int(stream.avail_out))]
                    if rc == Z_STREAM_END { break }
                } while stream.avail_out == 0 || stream.avail_in > 0
            }
        }
        return out
    }

    static func varint(_ v: Int) -> [UInt8] {
        var out: [UInt8] = [], v = v
        repeat {
            out.append(UInt8(v & 0x7f) | (v >= 0x80 ? 0x80 : 0))
            v >>= 7
        } while v > 0
        return out
    }

    static func id(_ type: String, _ data: [UInt8]) -> [UInt8] {
        Array(Insecure.SHA1.hash(data: Array("\(type) \(data.count)\0".utf8) + data))
    }

    mutating func whole(_ kind: Int, _ data: [UInt8]) {
        objects.append(Self.header(kind: kind, size: data.count) + Self.zlib(data))
    }

    mutating func refDelta(base: [UInt8], _ delta: [UInt8]) {
        objects.append(Self.header(kind: 7, size: delta.count) + base + Self.zlib(delta))
    }

    var bytes: [UInt8] {
        let count = claimedCount ?? UInt32(objects.count)
        var out = Array("PACK".utf8) + [0, 0, 0, 2] + withUnsafeBytes(of: count.bigEndian, Array.init)
        for o in objects { out += o }
        return out + Array(Insecure.SHA1.hash(data: out))
    }

    /// The pack in an unlinked file, open for PackFile.
    func open() throws -> Int32 {
        let path = NSTemporaryDirectory() + "/crafted-" + UUID().uuidString
        defer { unlink(path) }
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        return fd
    }
}

@Suite(.serialized) struct GitHostilePackTests {
    func index(_ pack: CraftedPack, cacheLimit: Int = 64 << 20) throws -> PackFile {
        try PackFile(fd: try pack.open(), cacheLimit: cacheLimit)
    }

    func seconds(_ body: () throws -> Void) rethrows -> Double {
        let start = Date()
        try body()
        return Date().timeIntervalSince(start)
    }

    /// The git pack fuzzer's first crash (Fuzz/reproducers): 894 bytes claiming 0xcc000103
    /// objects, which PackFile reserved memory for (an out-of-memory abort), with the SHA-1
    /// trailer the fuzz target appends.
    @Test func theFuzzersObjectCountCrashIsAnError() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Fuzz/reproducers/gitpack-object-count-oom.pack").path
        let body = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let file = NSTemporaryDirectory() + "/reproducer-" + UUID().uuidString
        defer { unlink(file) }
        _ = FileManager.default.createFile(atPath: file, contents: Data(body + Array(Insecure.SHA1.hash(data: body))))
        let fd = Glibc.open(file, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        #expect(throws: GitError.self) { _ = try PackFile(fd: fd) }
    }

    /// A small pack claiming 2^32 - 1 objects: refused for what its bytes can hold.
    @Test func aPackClaimingBillionsOfObjectsIsRefused() throws {
        var pack = CraftedPack()
        for n in 0..<4 { pack.whole(3, Array("blob \(n) padding the pack to a realistic size\n".utf8)) }
        pack.claimedCount = UInt32.max
        #expect(pack.bytes.count < 400)
        #expect { try index(pack) } throws: { "\($0)".contains("claims 4294967295 objects, more than its") }
    }

    /// A delta whose target claims 2^50 bytes, and an object header claiming more than the
    /// pack's bytes can inflate to.
    @Test func lyingSizesAreRefused() throws {
        let base = Array("hello, world\n".utf8)
        var pack = CraftedPack()
        pack.whole(3, base)
        pack.refDelta(
            base: CraftedPack.id("blob", base), CraftedPack.varint(base.count) + CraftedPack.varint(1 << 50) + [5] + Array("hello".utf8))
        #expect(pack.bytes.count < 200)
        #expect { try index(pack) } throws: { "\($0)".contains("a delta claims a target of 1125899906842624 bytes") }

        var huge = CraftedPack()
        huge.objects.append(CraftedPack.header(kind: 3, size: 1 << 40) + CraftedPack.zlib(Array("short".utf8)))
        #expect { try index(huge) } throws: { "\($0)".contains("claims 1099511627776 bytes, more than the rest of the pack inflates to") }
    }

    /// 20,000 REF_DELTAs, each on the one after it in the pack, the whole base last: every
    /// delta waits for the next, so resolving in pack order rounds takes 20,000 passes.
    @Test func deltasInReverseOrderIndexInLinearTime() throws {
        let n = 20_000
        var contents: [[UInt8]] = [Array("version 0\n".utf8)]
        for i in 1...n { contents.append(Array("version \(i)\n".utf8)) }
        var pack = CraftedPack()
        for i in stride(from: n, through: 1, by: -1) {
            let target = contents[i]
            pack.refDelta(
                base: CraftedPack.id("blob", contents[i - 1]),
                CraftedPack.varint(contents[i - 1].count) + CraftedPack.varint(target.count) + [UInt8(target.count)] + target)
        }
        pack.whole(3, contents[0])
        var indexed: PackFile?
        let took = try seconds { indexed = try index(pack) }
        print("20,000 reverse-order REF_DELTAs indexed in \(String(format: "%.2f", took)) s")
        let last = try #require(indexed?.info(CraftedPack.id("blob", contents[n]).hexString))
        #expect(last.size == contents[n].count && last.type == 3)
        #expect(indexed?.entries().count == n + 1)
        #expect(took < 20, "indexing took \(took) s (44e3af7: about 50 s)")
    }

    /// A chain of 30 deltas on a 17 MiB blob (larger than the cache keeps): each link is built
    /// once from the one below, not from the base again.
    @Test func longChainsOfLargeObjectsAreBuiltOnce() throws {
        let size = 17 << 20
        var base = [UInt8](repeating: 0x61, count: size)
        for i in stride(from: 0, to: size, by: 4096) { base[i] = UInt8(i / 4096 & 0xff) }
        var pack = CraftedPack()
        pack.whole(3, base)
        var previous = base
        for link in 1...30 {
            let stamp = Array(String(format: "link%04d", link).utf8)
            var delta = CraftedPack.varint(size) + CraftedPack.varint(size) + [UInt8(stamp.count)] + stamp
            // Copy ops of at most 16 MiB - 1 (three length bytes), offsets in four bytes.
            var at = stamp.count
            while at < size {
                let length = min(size - at, 0xff_ffff)
                delta +=
                    [0x80 | 0x0f | 0x70] + withUnsafeBytes(of: UInt32(at).littleEndian, Array.init)
                    + withUnsafeBytes(of: UInt32(length).littleEndian, { Array($0.prefix(3)) })
                at += length
            }
            pack.refDelta(base: CraftedPack.id("blob", previous), delta)
            previous = stamp + previous[stamp.count...]
        }
        var indexed: PackFile?
        let took = try seconds { indexed = try index(pack) }
        print("a 30-link chain of 17 MiB deltas indexed in \(String(format: "%.2f", took)) s")
        let top = try #require(indexed?.info(CraftedPack.id("blob", previous).hexString))
        #expect(top.size == size)
    }

    /// A tree whose symlink points at a 1 GiB target (1 MB of zlib): refused by its size
    /// before anything is inflated. A target of non-UTF-8 bytes is written as those bytes.
    @Test func symlinkTargetsAreCappedAtPathMaxAndKeptAsBytes() throws {
        let dir = NSTemporaryDirectory() + "/hostile-link-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/big", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/raw", withIntermediateDirectories: true)
        let chunk = [UInt8](repeating: 0x2f, count: 1 << 20)
        var bigID = Insecure.SHA1()
        bigID.update(data: Array("blob \(1 << 30)\0".utf8))
        for _ in 0..<1024 { bigID.update(data: chunk) }
        let rawTarget: [UInt8] = [0x6c, 0xe9, 0x2f, 0xff, 0x78]  // Latin-1 "lé/", a stray 0xff
        var pack = CraftedPack()
        pack.objects.append(CraftedPack.header(kind: 3, size: 1 << 30) + CraftedPack.zlib(chunk, times: 1024, level: Z_BEST_COMPRESSION))
        pack.whole(3, rawTarget)
        let bigTree = Array("120000 link\0".utf8) + Array(bigID.finalize())
        let rawTree = Array("120000 link\0".utf8) + CraftedPack.id("blob", rawTarget)
        pack.whole(2, bigTree)
        pack.whole(2, rawTree)
        #expect(pack.bytes.count < 2 << 20)
        let packFile = try index(pack)
        var usage = rusage()
        let took = seconds {
            #expect { try GitFetch.write(packFile, tree: CraftedPack.id("tree", bigTree).hexString, to: dir + "/big", time: 0) } throws: {
                "\($0)".contains("has a target of 1073741824 bytes, longer than PATH_MAX (4096) allows")
            }
        }
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #expect(took < 5 && usage.ru_maxrss < 1 << 20, "\(took) s, peak \(usage.ru_maxrss) KiB")
        try GitFetch.write(packFile, tree: CraftedPack.id("tree", rawTree).hexString, to: dir + "/raw", time: 0)
        var target = [UInt8](repeating: 0, count: 64)
        let n = readlink(dir + "/raw/link", &target, 64)
        #expect(Array(target.prefix(max(0, n))) == rawTarget)
    }
}
