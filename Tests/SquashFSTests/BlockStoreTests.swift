// The block store: a write that takes blocks from it gives the bytes a write without it gives,
// for every compressor; damaged entries are refused; concurrent writers share it safely.
import Foundation
import SquashFS
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct BlockStoreWrites {
    /// A tree with compressible and incompressible files, tails (fragments) and a duplicate.
    func tree(_ scratch: Scratch) throws -> String {
        let root = scratch.sub("root")
        try FileManager.default.createDirectory(atPath: root + "/d", withIntermediateDirectories: true)
        var text = ""
        for i in 0..<40_000 { text += "line \(i) of a text that compresses well\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/text"))
        var random = SystemRandomNumberGenerator()
        try Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &random) }).write(to: URL(fileURLWithPath: root + "/random"))
        for i in 0..<30 { try Data("small \(i)\n".utf8).write(to: URL(fileURLWithPath: root + "/d/f\(i)")) }
        try Data(text.utf8).write(to: URL(fileURLWithPath: root + "/d/copy"))
        return root
    }

    func bytes(_ path: String) -> Data { FileManager.default.contents(atPath: path) ?? Data() }

    @Test(arguments: Compression.allCases)
    func aWriteFromTheStoreIsByteIdentical(compression: Compression) throws {
        let scratch = Scratch()
        let root = try tree(scratch)
        let store = scratch.sub("blocks")
        func write(_ name: String, store: String?) throws -> Data {
            try pack(root, to: scratch.sub(name)) {
                $0.compression = CompressionOptions(compression)
                $0.fixedTimestamp = 1_700_000_000
                $0.blockStore = store
            }
            return bytes(scratch.sub(name))
        }
        let plain = try write("plain.sqfs", store: nil)
        let cold = try write("cold.sqfs", store: store)
        let entries = try FileManager.default.contentsOfDirectory(atPath: store)
        #expect(entries.count >= 4 && entries.allSatisfy { $0.count == 64 })
        let warm = try write("warm.sqfs", store: store)
        #expect(plain == cold && cold == warm)
        // Another setting is another key: nothing is shared with a different level.
        try pack(root, to: scratch.sub("level.sqfs")) {
            $0.compression = CompressionOptions(compression, level: compression == .lz4 ? 9 : 1); $0.blockStore = store
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).count > entries.count)
    }

    @Test func damagedEntriesAreRemovedAndNeverWritten() throws {
        let scratch = Scratch()
        let root = try tree(scratch)
        let store = scratch.sub("blocks")
        try pack(root, to: scratch.sub("a.sqfs")) {
            $0.fixedTimestamp = 1; $0.blockStore = store
        }
        let reference = bytes(scratch.sub("a.sqfs"))
        let names = try FileManager.default.contentsOfDirectory(atPath: store).sorted()
        // One entry with a flipped payload byte, one cut short, one with a wrong magic.
        var flipped = bytes(store + "/" + names[0]); flipped[flipped.count - 1] ^= 0xFF
        try flipped.write(to: URL(fileURLWithPath: store + "/" + names[0]))
        let cut = bytes(store + "/" + names[1]).prefix(20)
        try cut.write(to: URL(fileURLWithPath: store + "/" + names[1]))
        var magic = bytes(store + "/" + names[2]); magic[0] = 0
        try magic.write(to: URL(fileURLWithPath: store + "/" + names[2]))
        try pack(root, to: scratch.sub("b.sqfs")) {
            $0.fixedTimestamp = 1; $0.blockStore = store
        }
        #expect(bytes(scratch.sub("b.sqfs")) == reference)
        // The damaged entries were replaced by good ones.
        for name in names.prefix(3) {
            let entry = bytes(store + "/" + name)
            #expect(entry.prefix(8) == Data("GVMCBLK1".utf8) && entry != flipped && entry.count > 20)
        }
    }

    @Test func concurrentWritersShareTheStore() throws {
        let scratch = Scratch()
        let root = try tree(scratch)
        let store = scratch.sub("blocks")
        try pack(root, to: scratch.sub("ref.sqfs")) { $0.fixedTimestamp = 1 }
        let reference = bytes(scratch.sub("ref.sqfs"))
        let results = Mutex([Data]())
        let dir = scratch.path
        DispatchQueue.concurrentPerform(iterations: 4) { i in
            _ = try? pack(root, to: dir + "/c\(i).sqfs") {
                $0.fixedTimestamp = 1; $0.blockStore = store; $0.workers = 2
            }
            let data = FileManager.default.contents(atPath: dir + "/c\(i).sqfs") ?? Data()
            results.withLock { $0.append(data) }
        }
        #expect(results.withLock { $0.count == 4 && $0.allSatisfy { $0 == reference } })
        #expect(try FileManager.default.contentsOfDirectory(atPath: store).allSatisfy { !$0.contains(".tmp-") })
    }
}
