// Bad input of every kind: a clear error naming what and where, and no partial output left.
import Foundation
import SquashFS
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct WriterErrors {
    func leftovers(_ dir: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".tmp") }
    }

    @Test func aFileThatShrinksWhileBeingReadIsAnErrorAndNothingIsLeft() throws {
        let scratch = Scratch()
        let output = try OutputFile(target: scratch.sub("out.sqfs"))
        let writer = try SquashFSWriter(output: output)
        var calls = 0
        #expect {
            try writer.addFile(try EntryPath("etc/config"), metadata: EntryMetadata(permissions: 0o644), size: 300_000) { buffer in
                calls += 1
                return calls == 1 ? min(buffer.count, 1000) : 0
            }
        } throws: { error in
            "\(error)".contains("/etc/config") && "\(error)".contains("shrank")
        }
        output.discard()
        #expect(leftovers(scratch.path).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("out.sqfs")))
    }

    @Test func aFileThatGrowsWhileBeingReadIsAnError() throws {
        let scratch = Scratch()
        let output = try OutputFile(target: scratch.sub("out.sqfs"))
        defer { output.discard() }
        let writer = try SquashFSWriter(output: output)
        #expect {
            try writer.addFile(try EntryPath("log"), metadata: EntryMetadata(permissions: 0o644), size: 10) { buffer in
                buffer.initializeMemory(as: UInt8.self, repeating: 1)
                return buffer.count
            }
        } throws: { error in "\(error)".contains("/log") && "\(error)".contains("grew") }
    }

    @Test func invalidOptionsAndPathsAreRejected() throws {
        var options = SquashFSOptions()
        options.blockSize = 1000
        #expect(throws: SquashFSError.self) { try options.validate() }
        options.blockSize = 131_072
        options.compression = CompressionOptions(.gzip, level: 12)
        #expect(throws: SquashFSError.self) { try options.validate() }
        #expect(throws: SquashFSError.self) { try EntryPath("a/../../etc/passwd") }
        #expect(throws: SquashFSError.self) { try EntryPath(String(repeating: "x", count: 257)) }
        #expect(try EntryPath("/./a//b/").components == [Array("a".utf8), Array("b".utf8)])
    }

    @Test func hardlinksToMissingTargetsOrDirectoriesAreRejected() throws {
        let scratch = Scratch()
        let output = try OutputFile(target: scratch.sub("out.sqfs"))
        defer { output.discard() }
        let writer = try SquashFSWriter(output: output)
        try writer.add(try EntryPath("dir"), .directory, metadata: EntryMetadata(permissions: 0o755))
        #expect(throws: SquashFSError.self) { try writer.addHardlink(try EntryPath("x"), target: try EntryPath("missing")) }
        #expect(throws: SquashFSError.self) { try writer.addHardlink(try EntryPath("y"), target: try EntryPath("dir")) }
        try writer.addFile(try EntryPath("file"), metadata: EntryMetadata(permissions: 0o644), contents: [1])
        #expect(throws: SquashFSError.self) {
            try writer.add(try EntryPath("file/child"), .fifo, metadata: EntryMetadata(permissions: 0o644))
        }
    }

    @Test(.enabled(if: getuid() == 0, "needs root to mount a small tmpfs"))
    func aFullDiskIsAClearErrorAndLeavesNoFile() throws {
        let scratch = Scratch()
        let small = scratch.sub("small")
        try FileManager.default.createDirectory(atPath: small, withIntermediateDirectories: true)
        #expect(Tools.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small]).status == 0)
        defer { _ = Tools.run(["umount", small]) }
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        var random = SystemRandomNumberGenerator()
        let data = Data((0..<2_000_000).map { _ in UInt8.random(in: 0...255, using: &random) })
        FileManager.default.createFile(atPath: tree + "/random.bin", contents: data)
        #expect {
            try pack(tree, to: small + "/image.sqfs")
        } throws: { error in
            "\(error)".contains("No space left on device") && "\(error)".contains(small)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: small).isEmpty)
    }

    @Test(.enabled(if: Tools.canLoopMount && Tools.exists("mksquashfs"), "needs root, loop devices and mksquashfs"))
    func aFileThatCannotBeReadIsAnErrorNamingIt() throws {
        // A source file whose reads fail with EIO: it lives on a squashfs whose data block is corrupt.
        let scratch = Scratch()
        let source = scratch.sub("source")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        var random = SystemRandomNumberGenerator()
        FileManager.default.createFile(
            atPath: source + "/damaged.bin",
            contents: Data((0..<200_000).map { _ in UInt8.random(in: 0...32, using: &random) }))
        let broken = scratch.sub("broken.sqfs")
        #expect(Tools.run(["mksquashfs", source, broken, "-noappend", "-quiet", "-no-progress"]).status == 0)
        let fd = open(broken, O_WRONLY)
        var garbage = [UInt8](repeating: 0xAA, count: 64)
        _ = pwrite(fd, &garbage, 64, 200)  // inside the first data block
        close(fd)
        let mnt = scratch.sub("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        #expect(Tools.run(["mount", "-o", "loop,ro", broken, mnt]).status == 0)
        defer { _ = Tools.run(["umount", mnt]) }
        #expect {
            try pack(mnt, to: scratch.sub("out.sqfs"))
        } throws: { error in
            "\(error)".contains("damaged.bin") && "\(error)".contains("read")
        }
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("out.sqfs")))
        #expect(leftovers(scratch.path).isEmpty)
    }
}
