// The layer stage on its own: the flattened tree written to a directory (the build's consumer)
// equals `umoci unpack` and the squashfs consumer's tree; hostile layers never touch anything
// outside the target. Images come from oci_fixtures.py's OCI layout, read through Registry.
import Foundation
import ImageSpec
@testable import Layers
@testable import Registry
import SquashFS
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum Fixture {
    static let script = TestFixtures.directory + "/oci_fixtures.py"
    static let canBuild = Tools.exists("python3") && Tools.exists("busybox") && Tools.exists("zstd")
    static let layout: String = {
        let dir = Scratch()
        _ = Unmanaged.passRetained(dir)  // kept for the whole test process
        let r = Tools.run([
            "python3", script, dir.path + "/layout",
            Tools.run(["sh", "-c", "command -v busybox"]).output.trimmingCharacters(in: .whitespacesAndNewlines)
        ])
        if r.status != 0 { Issue.record("oci_fixtures.py failed: \(r.output)") }
        return dir.path + "/layout"
    }()

    static func image(_ tag: String) throws -> FlattenedImage {
        let pulled = try ImagePuller(
            options: RegistryOptions(), cache: BlobCache(directory: "/nonexistent"),
            platform: Platform(architecture: "amd64", os: "linux")
        ).pull(.ociLayout(path: layout, tag: tag))
        return try FlattenedImage(layers: pulled.layers.map { LayerFile(path: $0.path, digest: $0.digest) })
    }
}

@Suite(.serialized, .enabled(if: Fixture.canBuild, "needs python3, busybox and zstd (make test-deps)"))
struct LayerApplication {
    @Test(.enabled(if: Tools.exists("umoci") && getuid() == 0, "needs umoci and root (devices, ownership)"))
    func extractedDirectoryEqualsUmociUnpackAndTheSquashfsConsumer() throws {
        let scratch = Scratch()
        let flat = try Fixture.image("multi")
        try FileManager.default.createDirectory(atPath: scratch.sub("root"), withIntermediateDirectories: true)
        try flat.extract(to: scratch.sub("root"))
        let r = Tools.run(["umoci", "unpack", "--image", Fixture.layout + ":multi", scratch.sub("bundle")])
        #expect(r.status == 0, "\(r.output)")
        let expected = try TreeSnapshot.take(scratch.sub("bundle/rootfs"))
        let extracted = try TreeSnapshot.take(scratch.sub("root"))
        let d1 = TreeSnapshot.diff(expected, extracted)
        #expect(d1.isEmpty, "directory consumer differs from umoci:\n\(d1.prefix(10).joined(separator: "\n"))")
        // The streaming consumer gives the same tree.
        let output = try OutputFile(target: scratch.sub("img.sqfs"))
        let writer = try SquashFSWriter(output: output)
        try flat.write(to: writer)
        _ = try writer.finish()
        try output.commit()
        try expectUnsquashfsMatches(scratch.sub("img.sqfs"), scratch.sub("bundle/rootfs"), scratch: scratch)
    }

    @Test func hostileEntriesNeverLeaveTheTarget() throws {
        let scratch = Scratch()
        let outside = scratch.sub("outside-sentinel")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        for tag in ["hostile-dotdot", "hostile-hardlink-out", "hostile-absurd-size", "hostile-truncated"] {
            #expect(throws: LayerError.self, "\(tag) is rejected") { _ = try Fixture.image(tag) }
        }
        var message = "accepted"
        do { _ = try Fixture.image("hostile-hardlink-out") } catch { message = "\(error)" }
        #expect(message.hasPrefix("layer sha256:") && message.contains("entry \"hl\""), "\(message)")
        // Symlinks to / and to ../../.. resolve to the target's own root.
        let planted = try Fixture.image("hostile-symlink-parent")
        let root = scratch.sub("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try planted.extract(to: root)
        #expect(FileManager.default.fileExists(atPath: root + "/etc-planted"))
        #expect(FileManager.default.fileExists(atPath: root + "/tmp-planted"))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: root + "/esc") == "/")
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/etc-planted") && !FileManager.default.fileExists(atPath: "/tmp-planted"))
    }

    @Test func aCorruptedBlobIsNamedByItsDigest() throws {
        let scratch = Scratch()
        let pulled = try ImagePuller(
            options: RegistryOptions(), cache: BlobCache(directory: "/nonexistent"),
            platform: Platform(architecture: "amd64", os: "linux")
        ).pull(.ociLayout(path: Fixture.layout, tag: "zstd"))
        let layer = try #require(pulled.layers.last)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: layer.path)))
        bytes[bytes.count / 2] ^= 0x55
        FileManager.default.createFile(atPath: scratch.sub("bad"), contents: Data(bytes))
        var message = "accepted"
        do { _ = try FlattenedImage(layers: [LayerFile(path: scratch.sub("bad"), digest: layer.digest)]) } catch { message = "\(error)" }
        #expect(message.hasPrefix("layer \(layer.digest):"), "\(message)")
    }

    /// Deep trees with long paths: every directory is made under its own name (a pointer to the
    /// path's buffer was used after the buffer was freed, which gave garbage names and false errors).
    @Test func deepTreesWithLongPathsExtractUnderTheirNames() throws {
        let scratch = Scratch()
        let r = Tools.run([
            "python3", "-c",
            """
            import io, sys, tarfile
            t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
            names = []
            for branch in range(12):
                path = ""
                for depth in range(16):
                    path += ("/" if path else "") + ("d%02d-%02d-" % (branch, depth)) + "x" * (60 + 9 * branch + depth)
                    if len(path) > 3500: break
                    i = tarfile.TarInfo(path); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)
                    names.append(path)
                data = b"leaf %d" % branch
                i = tarfile.TarInfo(path + "/leaf"); i.size = len(data); t.addfile(i, io.BytesIO(data))
            t.close()
            open(sys.argv[2], "w").write("\\n".join(names))
            """, scratch.sub("deep.tar"), scratch.sub("names")
        ])
        #expect(r.status == 0, "\(r.output)")
        let flat = try FlattenedImage(layers: [LayerFile(path: scratch.sub("deep.tar"), digest: nil, label: "deep.tar")])
        let root = scratch.sub("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try flat.extract(to: root)
        let expected = try String(contentsOfFile: scratch.sub("names"), encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(expected.count > 150)
        let made = try FileManager.default.subpathsOfDirectory(atPath: root).filter { !$0.hasSuffix("/leaf") }
        #expect(Set(made) == Set(expected), "unexpected: \(Set(made).subtracting(expected).prefix(3))")
    }

    @Test func readFileFollowsSymlinksInsideTheImage() throws {
        let flat = try Fixture.image("multi")
        #expect(try flat.readFile("/etc/passwd").map { String(decoding: $0, as: UTF8.self) }?.contains("new:x:2000") == true)
        #expect(try flat.readFile("/lib/through-symlink.so") != nil, "lib -> usr/lib is followed")
        #expect(try flat.readFile("/gone/sub/file") == nil, "whited out")
    }
}
