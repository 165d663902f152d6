// The image store: a tree written before is not written again. The image made from the store
// is byte for byte the one a fresh write gives (with another configuration too, and with the
// registry's chunk hashes), and a damaged entry is noticed, removed and written anew.
import Foundation
@testable import GVMI
import ImageSpec
import SquashFS
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ImageStoreTests {
    let dir: String = {
        var template = Array("/tmp/gvmc-imagestore-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }()

    func config(_ label: String) -> ContainerConfig {
        var c = ContainerConfig()
        c.labels = ["rev": label]
        c.volumes = ["/golem/output"]
        return c
    }

    /// Writes the test tree (`populated` counts the real writes).
    func write(_ name: String, label: String, store: ImageStoreEntry?, chunk: UInt64? = nil, populated: inout Int) throws -> GVMIResult {
        var options = SquashFSOptions()
        options.fixedTimestamp = 1_700_000_000
        var calls = 0
        let result = try GVMIImageWriter.write(
            to: dir + "/" + name, options: options, config: config(label),
            chunkSize: chunk.map { c in { _ in c } }, imageStore: store
        ) { writer in
            calls += 1
            for i in 0..<40 {
                let text = String(repeating: "line \(i) of a file that compresses\n", count: 400 + i * 37)
                try writer.addFile(
                    try EntryPath("app/file\(i).txt"), metadata: EntryMetadata(permissions: 0o644), contents: Array(text.utf8))
            }
            try BootFiles.add(to: writer)
        }
        populated += calls
        return result
    }

    func entry(reads: Bool = true) -> ImageStoreEntry {
        var options = SquashFSOptions()
        options.fixedTimestamp = 1_700_000_000
        return ImageStoreEntry(store: dir + "/images", treeKey: "tree-1", options: options, reads: reads)
    }

    func bytes(_ name: String) -> Data { FileManager.default.contents(atPath: dir + "/" + name) ?? Data() }

    @Test func aStoredTreeIsCopiedNotWrittenAndGivesTheSameBytes() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var populated = 0
        let first = try write("first.gvmi", label: "1", store: entry(), populated: &populated)
        #expect(populated == 1 && !first.reusedSquashFS)
        #expect(FileManager.default.fileExists(atPath: entry().directory + "/meta.json"))
        // The same tree with another configuration: the squashfs comes from the store.
        let second = try write("second.gvmi", label: "2", store: entry(), chunk: 1 << 12, populated: &populated)
        #expect(populated == 1 && second.reusedSquashFS)
        let fresh = try write("fresh.gvmi", label: "2", store: nil, chunk: 1 << 12, populated: &populated)
        #expect(populated == 2)
        #expect(bytes("second.gvmi") == bytes("fresh.gvmi"), "the same bytes as a write without the store")
        #expect(second.sha3_224 == fresh.sha3_224 && second.sha256 == fresh.sha256 && second.size == fresh.size)
        #expect(second.chunkSHA256 == fresh.chunkSHA256 && second.chunkSHA256.count > 1)
        #expect(second.squashfs.inodes == fresh.squashfs.inodes && second.squashfs.fileSize == fresh.squashfs.fileSize)
        let report = try GVMIInspector.inspect(path: dir + "/second.gvmi")
        #expect(report.sha3_224 == fresh.sha3_224 && report.config == config("2"))
        // The first image may go (the entry is a hard link to it): the store still has the tree.
        try FileManager.default.removeItem(atPath: dir + "/first.gvmi")
        let third = try write("third.gvmi", label: "1", store: entry(), populated: &populated)
        #expect(third.reusedSquashFS && third.sha3_224 == first.sha3_224 && third.sha256 == first.sha256)
        // --no-cache: written again, and the store is not read.
        #expect(!(try write("nocache.gvmi", label: "1", store: entry(reads: false), populated: &populated).reusedSquashFS))
        #expect(populated == 3)
    }

    @Test(arguments: ["squashfs", "meta.json", "missing"])
    func aDamagedEntryIsRemovedAndTheImageWritten(_ damage: String) throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var populated = 0
        let first = try write("first.gvmi", label: "1", store: entry(), populated: &populated)
        let stored = entry().directory + "/" + (damage == "missing" ? "squashfs" : damage)
        // The entry is its own file now, not the image's inode (as after a copy across filesystems).
        let copy = try #require(FileManager.default.contents(atPath: stored))
        try FileManager.default.removeItem(atPath: stored)
        if damage != "missing" {
            var b = [UInt8](copy)
            b[damage == "meta.json" ? b.count / 3 : 5000] ^= 0x01
            try Data(b).write(to: URL(fileURLWithPath: stored))
        }
        let again = try write("again.gvmi", label: "1", store: entry(), populated: &populated)
        #expect(!again.reusedSquashFS && populated == 2, "the damaged entry was not used")
        #expect(bytes("again.gvmi") == bytes("first.gvmi") && again.sha3_224 == first.sha3_224)
        // It was replaced by a good one.
        #expect(try write("third.gvmi", label: "1", store: entry(), populated: &populated).reusedSquashFS)
        #expect(bytes("third.gvmi") == bytes("first.gvmi"))
    }

    /// What changes the squashfs changes the entry; what does not (workers, the block store), not.
    @Test func theKeyHoldsEverySettingThatChangesTheSquashFS() {
        var base = SquashFSOptions()
        base.fixedTimestamp = 1
        func key(_ edit: (inout SquashFSOptions) -> Void, tree: String = "t") -> String {
            var o = base
            edit(&o)
            return ImageStoreEntry(store: "/s", treeKey: tree, options: o, reads: true).directory
        }
        let plain = key { _ in }
        #expect(
            key({
                $0.workers = 7; $0.blockStore = "/x"
            }) == plain)
        #expect(key({ _ in }, tree: "u") != plain)
        for edit: (inout SquashFSOptions) -> Void in [
            { $0.compression = CompressionOptions(.xz) }, { $0.compression.level = 3 },
            { $0.blockSize = 1 << 20 }, { $0.fixedTimestamp = nil }, { $0.fixedTimestamp = 2 },
            { $0.deduplicate = false }, { $0.fragments = false }, { $0.pad = false }
        ] {
            #expect(key(edit) != plain)
        }
    }
}
