// The VM mode's pieces that need no VM: the initramfs archive as cpio reads it, the module load
// order from modules.dep, and the guest init's quoting of a command.
import Foundation
@testable import Runtime
import Testing

@Suite struct VMPiecesTests {
    @Test(
        .enabled(
            if: FileManager.default.isExecutableFile(atPath: "/usr/bin/busybox")
                || FileManager.default.isExecutableFile(atPath: "/bin/busybox"),
            "needs busybox's cpio to read the archive back"))
    func cpioReadsTheInitramfsBackEntryForEntry() throws {
        var cpio = CPIOArchive()
        cpio.directory("bin")
        cpio.file("bin/hello", Array("hello\n".utf8), mode: 0o755)
        cpio.file("odd", [1, 2, 3])
        cpio.symlink("bin/sh", target: "hello")
        cpio.characterDevice("dev-console", major: 5, minor: 1)
        let dir = NSTemporaryDirectory() + "cpio-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(cpio.finished()).write(to: URL(fileURLWithPath: dir + "/a.cpio"))
        let p = Process()
        p.executableURL = URL(
            fileURLWithPath: FileManager.default.isExecutableFile(atPath: "/usr/bin/busybox") ? "/usr/bin/busybox" : "/bin/busybox")
        p.arguments = ["cpio", "-tv", "-F", dir + "/a.cpio"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        p.waitUntilExit()
        let listing = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(p.terminationStatus == 0, "\(listing)")
        for expected in ["drwxr-xr-x", "-rwxr-xr-x", "bin/hello", "odd", "bin/sh -> hello", "crw-------", "dev-console"] {
            #expect(listing.contains(expected), "\(expected) missing from:\n\(listing)")
        }
        #expect(cpio.finished().count % 4 == 0)
    }

    @Test func modulesLoadAfterTheirDependenciesEachOnce() throws {
        let dep = """
            kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
            kernel/net/9p/9pnet.ko:
            kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
            kernel/fs/netfs/netfs.ko:
            kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio_ring.ko
            kernel/drivers/virtio/virtio_ring.ko:
            kernel/fs/squashfs/squashfs.ko:
            """
        let order = try GuestKernel.order(["9pnet_virtio", "9p", "overlay", "squashfs"], modulesDep: dep)
        #expect(
            order == [
                "kernel/drivers/virtio/virtio_ring.ko", "kernel/net/9p/9pnet.ko", "kernel/net/9p/9pnet_virtio.ko",
                "kernel/fs/netfs/netfs.ko", "kernel/fs/fscache/fscache.ko", "kernel/fs/9p/9p.ko", "kernel/fs/squashfs/squashfs.ko"
            ])
    }

    @Test func theGuestRunsTheCommandByItsPathWithOnlyItsEnvironment() {
        let p = ProviderProcess(
            executable: "echo", arguments: ["echo", "it's"], environment: ["A=1"], uid: 1000, gid: 1000, workingDirectory: "/w")
        let script = GuestInit.script(
            modules: [], version: .v0_5, memoryBytes: 256 << 20, volumes: ["/golem/output"], process: p, hostname: "golem")
        #expect(
            script.contains(
                "'env' '-i' 'A=1' 'nsenter' '-r/mnt/newroot' '-w/mnt/newroot/w' '-F' '-S' '1000' '-G' '1000' '--' './echo' 'it'\\''s'"),
            "\(script)")
        #expect(script.contains("mount -t 9p -o trans=virtio,version=9p2000.L,msize=104857600 mnt0 '/mnt/newroot/golem/output'"))
        #expect(!script.contains("size=134217728"), "0.5.x has no overlay size limit of its own")
        let old = GuestInit.script(modules: [], version: .v0_4, memoryBytes: 256 << 20, volumes: [], process: p, hostname: "golem")
        #expect(old.contains("size=134217728"))
    }
}
