// A whole .gvmi: squashfs + trailer, read back as Golem's runtime reads it and by independent tools.
import Dispatch
import Foundation
import GVMI
import ImageSpec
import SquashFS
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

private func run(_ args: [String]) -> (Int32, String) {
    let r = Tools.run(args)
    return (r.status, r.output)
}

private func tempDir() -> String {
    var template = Array("/tmp/gvmc-gvmi-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

private func sampleConfig() -> ContainerConfig {
    var c = ContainerConfig()
    c.env = ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]
    c.volumes = ["/golem/input", "/golem/output"]
    c.workingDir = "/golem/work"
    c.entrypoint = ["/bin/sh", "-c", "echo \"quoted\" \\ and ünïcode"]
    c.labels = ["b": "2", "a": "1"]
    return c
}

private func writeImage(_ path: String, timestamp: Int64? = 1_700_000_000) throws -> GVMIResult {
    var options = SquashFSOptions()
    options.fixedTimestamp = timestamp
    return try GVMIImageWriter.write(to: path, options: options, config: sampleConfig()) { writer in
        try writer.add(try EntryPath("golem/work"), .directory, metadata: EntryMetadata(permissions: 0o755))
        try writer.addFile(
            try EntryPath("golem/work/task.sh"), metadata: EntryMetadata(permissions: 0o755),
            contents: Array("#!/bin/sh\necho hi\n".utf8))
        try writer.add(try EntryPath("proc"), .directory, metadata: EntryMetadata(permissions: 0o555))
    }
}

@Suite(.serialized) struct GVMIImages {
    @Test func trailerAndConfigReadBackAsTheRuntimeReadsThem() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        let result = try writeImage(dir + "/a.gvmi")
        let report = try GVMIInspector.inspect(path: dir + "/a.gvmi")
        #expect(report.config == sampleConfig())
        #expect(report.size == result.size)
        #expect(report.sha3_224 == result.sha3_224)
        #expect(report.trailerOffset % 4096 == 0, "the squashfs is padded to 4 KiB before the trailer")
        #expect(report.superblock.bytesUsed <= report.trailerOffset)
        #expect(String(decoding: report.configJSON, as: UTF8.self).contains(#""Volumes":{"/golem/input":{},"/golem/output":{}}"#))
    }

    @Test(.enabled(if: run(["python3", "-c", "import hashlib; hashlib.sha3_224"]).0 == 0, "needs python3 for an independent hash"))
    func golemHashIsTheSha3OfTheWholeFile() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        let result = try writeImage(dir + "/a.gvmi")
        let (status, out) = run([
            "python3", "-c",
            "import hashlib,sys; d=open(sys.argv[1],'rb').read(); print(hashlib.sha3_224(d).hexdigest(), hashlib.sha256(d).hexdigest(), len(d))",
            dir + "/a.gvmi"
        ])
        #expect(status == 0)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "\(result.sha3_224) \(result.sha256) \(result.size)")
    }

    @Test func sameInputGivesTheSameBytes() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        let a = try writeImage(dir + "/a.gvmi")
        let b = try writeImage(dir + "/b.gvmi")
        #expect(a.sha3_224 == b.sha3_224)
        #expect(FileManager.default.contents(atPath: dir + "/a.gvmi") == FileManager.default.contents(atPath: dir + "/b.gvmi"))
    }

    @Test(.enabled(if: getuid() == 0 && FileManager.default.fileExists(atPath: "/dev/loop-control"), "needs root and loop devices"))
    func theKernelAndUnsquashfsReadTheImageWithItsTrailer() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        _ = try writeImage(dir + "/a.gvmi")
        let mnt = dir + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        #expect(run(["mount", "-o", "loop,ro", "-t", "squashfs", dir + "/a.gvmi", mnt]).0 == 0)
        #expect(FileManager.default.contents(atPath: mnt + "/golem/work/task.sh") == Data("#!/bin/sh\necho hi\n".utf8))
        _ = run(["umount", mnt])
        let (status, listing) = run(["unsquashfs", "-l", dir + "/a.gvmi"])
        #expect(status == 0 && listing.contains("squashfs-root/golem/work/task.sh"))
    }

    @Test func corruptImagesFailWithTheCheckAndOffset() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        let result = try writeImage(dir + "/a.gvmi")
        var bytes = [UInt8](FileManager.default.contents(atPath: dir + "/a.gvmi")!)
        bytes[Int(result.size) - 20] ^= 0x20  // inside the JSON
        FileManager.default.createFile(atPath: dir + "/crc.gvmi", contents: Data(bytes))
        #expect { try GVMIInspector.inspect(path: dir + "/crc.gvmi") } throws: { "\($0)".contains("CRC-32") && "\($0)".contains("offset") }
        FileManager.default.createFile(atPath: dir + "/short.gvmi", contents: Data(bytes[0..<100]))
        #expect(throws: (any Error).self) { try GVMIInspector.inspect(path: dir + "/short.gvmi") }
        var noMagic = [UInt8](FileManager.default.contents(atPath: dir + "/a.gvmi")!)
        noMagic[0] = 0
        FileManager.default.createFile(atPath: dir + "/magic.gvmi", contents: Data(noMagic))
        #expect { try GVMIInspector.inspect(path: dir + "/magic.gvmi") } throws: { "\($0)".contains("magic") }
    }

    @Test func aFifoOrDeviceIsRefusedWithoutWaitingForAWriter() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        #expect(mkfifo(dir + "/pipe.gvmi", 0o644) == 0)
        final class Outcome: @unchecked Sendable { var text = "" }
        let outcome = Outcome()
        let done = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            do { _ = try GVMIInspector.inspect(path: dir + "/pipe.gvmi") } catch { outcome.text = "\(error)" }
            done.signal()
        }
        // On a hang the blocked thread is left behind and the test fails instead of the run hanging.
        #expect(done.wait(timeout: .now() + 5) == .success, "inspect blocked on a FIFO")
        #expect(outcome.text.contains("is a FIFO, not a regular file"), "\(outcome.text)")
        #expect { try GVMIInspector.inspect(path: "/dev/zero") } throws: { "\($0)".contains("is a character device") }
    }

    @Test func aTrailerLeavingNoRoomForASuperblockIsAnError() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        // A file that is a trailer alone: valid CRC and JSON, nothing in front.
        FileManager.default.createFile(atPath: dir + "/t.gvmi", contents: Data(try GVMITrailer.encode(json: Array("{}".utf8))))
        #expect { try GVMIInspector.inspect(path: dir + "/t.gvmi") } throws: { "\($0)".contains("no room for a superblock") }
    }

    @Test func failedWritesLeaveNoFile() throws {
        let dir = tempDir()
        defer { _ = run(["rm", "-rf", dir]) }
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            _ = try GVMIImageWriter.write(to: dir + "/x.gvmi", options: SquashFSOptions(), config: ContainerConfig()) { _ in throw Boom() }
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)
    }
}
