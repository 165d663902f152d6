// The registries, images and reference trees the convert tests (and builds FROM a registry
// image) read: loopback docker-registry instances started once per test process.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum RegistryFixture {
    static let fixtures = LoopbackRegistries.fixtures
    static let missingTools = LoopbackRegistries.missingTools
    static let available = LoopbackRegistries.available
    static let why = Comment(rawValue: LoopbackRegistries.why)
    static var ports: [String: String] { LoopbackRegistries.ports }
    static func registry(_ name: String) -> String { LoopbackRegistries.registry(name) }
    static var layout: String { LoopbackRegistries.layout }

    /// Files a .gvmi adds when the image lacks them (GOLEM.md §1.3).
    static let bootPaths: Set<String> = [
        "/dev", "/proc", "/sys", "/tmp", "/var", "/var/tmp", "/etc/hosts", "/etc/hostname", "/etc/resolv.conf"
    ]

    /// `umoci unpack` of a layout tag, the reference tree.
    static func umociTree(_ tag: String, scratch: Scratch) -> String {
        let bundle = scratch.sub("bundle-\(tag)")
        let r = Tools.run(["umoci", "unpack", "--image", "\(layout):\(tag)", bundle])
        #expect(r.status == 0, "umoci unpack: \(r.output)")
        return bundle + "/rootfs"
    }

    /// The image's tree (through unsquashfs, or the kernel when it can mount) equals `expected`
    /// plus the boot files.
    static func expectTree(
        _ image: String, equals expected: String, scratch: Scratch, kernel: Bool = false,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws {
        let root: String
        var mounted = false
        if kernel {
            root = scratch.sub("mnt-\(UUID().uuidString)")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            let m = Tools.run(["mount", "-o", "loop,ro", "-t", "squashfs", image, root])
            #expect(m.status == 0, "kernel mount: \(m.output)", sourceLocation: sourceLocation)
            guard m.status == 0 else { return }
            mounted = true
        } else {
            root = scratch.sub("unsquashfs-\(UUID().uuidString)")
            let u = Tools.run(["unsquashfs", "-no-progress", "-d", root, image])
            #expect(u.status == 0, "unsquashfs: \(u.output)", sourceLocation: sourceLocation)
        }
        defer { if mounted { _ = Tools.run(["umount", root]) } }
        let want = try TreeSnapshot.take(expected)
        var got = try TreeSnapshot.take(root)
        for p in bootPaths where want[p] == nil { got[p] = nil }
        let differences = TreeSnapshot.diff(want, got)
        #expect(
            differences.isEmpty, "tree differs from umoci unpack:\n\(differences.prefix(20).joined(separator: "\n"))",
            sourceLocation: sourceLocation)
    }

    static func config(_ image: String) throws -> [String: Any] {
        let inspect = GVMCBinary.run(["inspect", "--json", image])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        return try #require(doc["config"] as? [String: Any])
    }

    static func blobs(_ cache: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: cache + "/blobs/sha256")) ?? []).sorted()
    }
}
