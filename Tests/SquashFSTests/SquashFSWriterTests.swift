// The writer judged by real readers: unsquashfs and the kernel's squashfs driver must see exactly
// the tree that was packed, for every kind of entry and edge case a root filesystem has.
import CSystem
import Foundation
import SquashFS
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Builds a tree with every file type and the usual edge cases.
func makeEverythingTree(_ root: String) throws {
    let fm = FileManager.default
    func write(_ rel: String, _ data: Data, mode: Int = 0o644) throws {
        let path = root + "/" + rel
        try fm.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard fm.createFile(atPath: path, contents: data) else { throw POSIXError(.EIO) }
        chmod(path, mode_t(mode))
    }
    try fm.createDirectory(atPath: root + "/empty-dir", withIntermediateDirectories: true)
    try write("empty-file", Data())
    try write("etc/hostname", Data("golem\n".utf8))
    var random = SystemRandomNumberGenerator()
    let big = Data((0..<300_000).map { _ in UInt8.random(in: 0...255, using: &random) })
    try write("bin/tool", big, mode: 0o4755)  // setuid
    try write("bin/copy-of-tool", big, mode: 0o755)  // identical content: deduplicated
    try write("exact-one-block", Data(repeating: 7, count: 131_072))
    try write("exact-two-blocks", Data((0..<262_144).map { UInt8($0 % 251) }))
    try write("text", Data(String(repeating: "hello squashfs\n", count: 20_000).utf8))
    try fm.createDirectory(atPath: root + "/sticky", withIntermediateDirectories: true)
    chmod(root + "/sticky", 0o1777)
    try fm.createDirectory(atPath: root + "/setgid", withIntermediateDirectories: true)
    chmod(root + "/setgid", 0o2775)
    try write("owned", Data("x".utf8), mode: 0o600)
    chown(root + "/owned", 1000, 1001)
    chown(root + "/setgid", 65534, 100)
    // Hardlink chain of three names.
    link(root + "/etc/hostname", root + "/hard1")
    link(root + "/etc/hostname", root + "/setgid/hard2")
    symlink("etc/hostname", root + "/relative-link")
    symlink("/absolute/target/that/does/not/exist", root + "/dangling-link")
    mknod(root + "/null", S_IFCHR | 0o666, makedev(1, 3))
    mknod(root + "/loop7", S_IFBLK | 0o660, makedev(7, 7))
    mknod(root + "/bigdev", S_IFCHR | 0o600, makedev(300, 70000))
    mkfifo(root + "/fifo", 0o644)
    let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var addr = sockaddr_un()
    addr.sun_family = sa_family_t(AF_UNIX)
    let sockPath = root + "/socket"
    withUnsafeMutableBytes(of: &addr.sun_path) { p in
        for (i, b) in sockPath.utf8.prefix(p.count - 1).enumerated() { p[i] = b }
    }
    _ = withUnsafePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    close(sock)
    // Long (255-byte) and non-UTF-8 names.
    try write(String(repeating: "n", count: 255), Data("long".utf8))
    let weird = root + "/latin1-\u{00E9}"
    try write("latin1-\u{00E9}", Data("utf8".utf8))
    _ = weird
    let raw: [UInt8] = Array((root + "/bad-").utf8) + [0xFF, 0xFE, 0x41, 0]
    _ = raw.withUnsafeBufferPointer {
        open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644)
    }
    // Deep nesting.
    var deep = "deep"
    for i in 0..<60 { deep += "/level\(i)" }
    try write(deep + "/leaf", Data("bottom".utf8))
    // xattrs, including a file capability.
    let cap: [UInt8] = [1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    _ = gvmc_lsetxattr(root + "/bin/tool", "security.capability", cap, cap.count)
    _ = gvmc_lsetxattr(root + "/etc/hostname", "user.note", "hello", 5)
    _ = gvmc_lsetxattr(root + "/empty-dir", "user.dir", "d", 1)
    // A sparse file: holes with a little data between.
    let sparse = root + "/sparse"
    let fd = open(sparse, O_CREAT | O_WRONLY, 0o644)
    ftruncate(fd, 3 * 1024 * 1024)
    _ = pwrite(fd, "data", 4, 1_500_000)
    close(fd)
    // Many entries in one directory (several directory headers and metadata blocks).
    for i in 0..<700 { try write("many/f\(i)", Data("\(i)\n".utf8)) }
}

@Suite(.serialized) struct SquashFSWriterTests {
    @Test(.enabled(if: Tools.hasUnsquashfs, "needs unsquashfs (apt-get install squashfs-tools)"))
    func unsquashfsExtractsEveryKindOfEntryExactly() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        let summary = try pack(tree, to: scratch.sub("image.sqfs"))
        #expect(summary.duplicateFiles == 1)
        try expectUnsquashfsMatches(scratch.sub("image.sqfs"), tree, scratch: scratch)
    }

    @Test(
        .enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"),
        arguments: Compression.allCases)
    func kernelMountsEveryCompressorAndSeesTheSameTree(_ compression: Compression) throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("image.sqfs")) { $0.compression = CompressionOptions(compression) }
        try expectKernelMountMatches(scratch.sub("image.sqfs"), tree, scratch: scratch)
    }

    @Test(
        .enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"),
        arguments: [4096, 65536, 1 << 20])
    func otherBlockSizesAndNoFragments(_ blockSize: Int) throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("a.sqfs")) { $0.blockSize = blockSize }
        try expectKernelMountMatches(scratch.sub("a.sqfs"), tree, scratch: scratch)
        try pack(tree, to: scratch.sub("b.sqfs")) {
            $0.blockSize = blockSize; $0.fragments = false; $0.deduplicate = false
        }
        try expectKernelMountMatches(scratch.sub("b.sqfs"), tree, scratch: scratch)
    }

    /// Random data is stored without running xz over it; random data that repeats itself within
    /// a block is still compressed (the LZ4 probe finds the repeats); both read back exactly.
    @Test(.enabled(if: Tools.hasUnsquashfs, "needs unsquashfs (apt-get install squashfs-tools)"))
    func incompressibleBlocksAreStoredAndRepeatsStillCompress() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        var random = SystemRandomNumberGenerator()
        let noise = Data((0..<524_288).map { _ in UInt8.random(in: 0...255, using: &random) })
        let chunk = Data((0..<16_384).map { _ in UInt8.random(in: 0...255, using: &random) })
        var repeated = Data()
        while repeated.count < 524_288 { repeated.append(chunk) }
        FileManager.default.createFile(atPath: tree + "/noise", contents: noise)
        FileManager.default.createFile(atPath: tree + "/repeated", contents: repeated)
        try pack(tree, to: scratch.sub("a.sqfs")) { $0.compression = CompressionOptions(.xz) }
        let size = try FileManager.default.attributesOfItem(atPath: scratch.sub("a.sqfs"))[.size] as? Int ?? 0
        // noise: 512 KiB stored; repeated: four blocks of one 16 KiB chunk, each a few KiB compressed.
        #expect(size > 524_288 && size < 524_288 + 100_000, "image of \(size) bytes")
        #expect(Tools.run(["unsquashfs", "-d", scratch.sub("x"), scratch.sub("a.sqfs")]).status == 0)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.sub("x/noise"))) == noise)
        #expect(try Data(contentsOf: URL(fileURLWithPath: scratch.sub("x/repeated"))) == repeated)
    }

    @Test func sameTreeGivesByteIdenticalImages() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("one.sqfs")) { $0.workers = 1 }
        try pack(tree, to: scratch.sub("two.sqfs")) { $0.workers = 4 }
        let one = try Data(contentsOf: URL(fileURLWithPath: scratch.sub("one.sqfs")))
        let two = try Data(contentsOf: URL(fileURLWithPath: scratch.sub("two.sqfs")))
        #expect(one == two)
    }

    @Test(.enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"))
    func fixedTimestampSetsEveryMtimeAndTheSuperblockTime() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("t.sqfs")) { $0.fixedTimestamp = 1_700_000_000 }
        let reader = try SquashFSReader(path: scratch.sub("t.sqfs"))
        #expect(reader.superblock.mkfsTime == 1_700_000_000)
        #expect(try reader.entries().allSatisfy { $0.mtime == 1_700_000_000 })
        let mnt = scratch.sub("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        #expect(Tools.run(["mount", "-o", "loop,ro", scratch.sub("t.sqfs"), mnt]).status == 0)
        defer { _ = Tools.run(["umount", mnt]) }
        let snap = try TreeSnapshot.take(mnt, contents: false)
        #expect(snap.values.allSatisfy { $0.mtime == 1_700_000_000 })
    }

    @Test(.enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"))
    func emptyRootDirectory() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let summary = try pack(tree, to: scratch.sub("e.sqfs"))
        #expect(summary.inodes == 1)
        try expectKernelMountMatches(scratch.sub("e.sqfs"), tree, scratch: scratch)
    }

    @Test(.enabled(if: Tools.canLoopMount && Tools.hasUnsquashfs, "needs root, loop devices and unsquashfs"))
    func hundredThousandSmallFiles() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        for d in 0..<100 {
            let dir = tree + "/d\(d)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for f in 0..<1000 {
                let fd = open(dir + "/f\(f)", O_CREAT | O_WRONLY, 0o644)
                let text = "file \(d)/\(f)\n"
                _ = write(fd, text, text.utf8.count)
                close(fd)
            }
        }
        let summary = try pack(tree, to: scratch.sub("many.sqfs"))
        #expect(summary.files == 100_000)
        #expect(summary.inodes == 100_101)
        let listing = Tools.run(["unsquashfs", "-l", scratch.sub("many.sqfs")])
        #expect(listing.output.split(separator: "\n").filter { $0.hasPrefix("squashfs-root/") }.count == 100_100)
        try expectKernelMountMatches(scratch.sub("many.sqfs"), tree, scratch: scratch)
    }

    @Test(.enabled(if: Tools.canLoopMount, "needs root and /dev/loop-control for a kernel loop mount"))
    func sparseFileLargerThanFourGiB() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try FileManager.default.createDirectory(atPath: tree, withIntermediateDirectories: true)
        let path = tree + "/huge"
        let fd = open(path, O_CREAT | O_WRONLY, 0o644)
        let size: off_t = 5 * 1024 * 1024 * 1024 + 12345
        ftruncate(fd, size)
        _ = pwrite(fd, "start", 5, 0)
        _ = pwrite(fd, "past-4GiB", 9, 4 * 1024 * 1024 * 1024 + 100)
        _ = pwrite(fd, "end", 3, size - 3)
        close(fd)
        try pack(tree, to: scratch.sub("huge.sqfs"))
        let image = try FileManager.default.attributesOfItem(atPath: scratch.sub("huge.sqfs"))[.size] as! Int
        #expect(image < 1 << 20, "a sparse 5 GiB file must not take space: image is \(image) bytes")
        let mnt = scratch.sub("mnt")
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        #expect(Tools.run(["mount", "-o", "loop,ro", scratch.sub("huge.sqfs"), mnt]).status == 0)
        defer { _ = Tools.run(["umount", mnt]) }
        var st = stat()
        #expect(stat(mnt + "/huge", &st) == 0 && st.st_size == size)
        let rfd = open(mnt + "/huge", O_RDONLY)
        defer { close(rfd) }
        func readAt(_ off: off_t, _ n: Int) -> String {
            var b = [UInt8](repeating: 0, count: n)
            _ = pread(rfd, &b, n, off)
            return String(decoding: b, as: UTF8.self)
        }
        #expect(readAt(0, 5) == "start")
        #expect(readAt(4 * 1024 * 1024 * 1024 + 100, 9) == "past-4GiB")
        #expect(readAt(size - 3, 3) == "end")
        #expect(readAt(2 * 1024 * 1024 * 1024, 4) == "\0\0\0\0")
    }

    @Test(.enabled(if: Tools.exists("mksquashfs") && Tools.hasUnsquashfs, "needs mksquashfs and unsquashfs"))
    func unsquashfsListsTheSameTreeAsForMksquashfsOutput() throws {
        // A second opinion: the same tree packed by mksquashfs lists identically (names, types,
        // modes, owners, sizes, link targets, device numbers, times).
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("ours.sqfs"))
        #expect(Tools.run(["mksquashfs", tree, scratch.sub("theirs.sqfs"), "-noappend", "-quiet", "-no-progress"]).status == 0)
        let ours = Tools.run(["unsquashfs", "-lln", "-UTC", scratch.sub("ours.sqfs")])
        let theirs = Tools.run(["unsquashfs", "-lln", "-UTC", scratch.sub("theirs.sqfs")])
        #expect(ours.status == 0 && theirs.status == 0)
        // Directory sizes depend on how listings are cut into headers; everything else must match.
        func normalise(_ listing: String) -> [String] {
            listing.split(separator: "\n").filter { $0.contains("squashfs-root") }.map { line in
                var fields = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
                if line.hasPrefix("d") && fields.count > 2 { fields[2] = "-" }
                return fields.joined(separator: " ")
            }
        }
        let a = normalise(ours.output), b = normalise(theirs.output)
        #expect(a.count == b.count)
        let firstDifference = zip(a, b).first { $0 != $1 }
        #expect(firstDifference == nil, "first difference: \(firstDifference.map { "\($0.0) vs \($0.1)" } ?? "")")
    }
}

/// Size-first deduplication (issue 21): only files whose size another file has are hashed; the
/// image is byte for byte the one hashing every file gives, with the same duplicates found.
@Suite struct SizeFirstDeduplication {
    @Test(arguments: [Compression.gzip, .lz4])
    func hashingOnlySharedSizesWritesTheSameImage(_ compression: Compression) throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try makeEverythingTree(tree)
        func write(_ name: String, _ bytes: [UInt8]) throws {
            try FileManager.default.createDirectory(
                atPath: ((tree + "/" + name) as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try Data(bytes).write(to: URL(fileURLWithPath: tree + "/" + name))
        }
        // Same size and content (small, held back, and over 1 MiB, streamed), same size with
        // other content, a duplicate made of zero blocks, hard links.
        var big = [UInt8](repeating: 0, count: 3 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 13) }
        try write("dup/a", Array("same bytes\n".utf8)); try write("dup/b", Array("same bytes\n".utf8))
        try write("dup/c", Array("othr bytes\n".utf8))
        try write("dup/big1", big); try write("dup/big2", big)
        var almost = big; almost[almost.count - 1] ^= 1
        try write("dup/big3", almost)
        try write("dup/zero1", [UInt8](repeating: 0, count: 256 << 10)); try write("dup/zero2", [UInt8](repeating: 0, count: 256 << 10))
        #expect(link(tree + "/dup/big1", tree + "/dup/big1-link") == 0)

        let shared = try #require(DirectoryTreeReader.sharedSizes(under: tree))
        #expect(shared.contains(11) && shared.contains(3 << 20) && shared.contains(256 << 10))
        var options = SquashFSOptions()
        options.compression = CompressionOptions(compression)
        options.fixedTimestamp = 1_700_000_000
        // A file of the tree that a file added after it (as the boot files are) duplicates.
        try write("etc-copy/hostname", Array("golem\n".utf8))
        #expect(symlink(tree, scratch.sub("link")) == 0)
        func image(_ name: String, sharedSizes: Set<UInt64>?, root: String? = nil) throws -> (bytes: Data, duplicates: Int) {
            let output = try OutputFile(target: scratch.sub(name))
            let writer = try SquashFSWriter(output: output, options: options)
            // Every size: each file is hashed, as before sizes were compared first.
            writer.sharedSizes = sharedSizes
            writer.laterFileSizes = [6]
            try DirectoryTreeReader(rootPath: root ?? tree).add(to: writer)
            try writer.addFile(
                try EntryPath("later-hostname"), metadata: EntryMetadata(permissions: 0o644), contents: Array("golem\n".utf8))
            let summary = try writer.finish()
            try output.commit()
            return (try Data(contentsOf: URL(fileURLWithPath: scratch.sub(name))), summary.duplicateFiles)
        }
        let everySize = Set(
            Tools.run(["find", tree, "-type", "f", "-printf", "%s\n"]).output.split(separator: "\n").compactMap { UInt64($0) })
        #expect(everySize.count > shared.count)
        let hashedAll = try image("all.sqfs", sharedSizes: everySize)
        let sizeFirst = try image("size-first.sqfs", sharedSizes: nil)
        // The root given through a symlink (followed by the reader, so by the census too).
        let throughLink = try image("link.sqfs", sharedSizes: nil, root: scratch.sub("link"))
        #expect(hashedAll.bytes == sizeFirst.bytes)
        #expect(hashedAll.bytes == throughLink.bytes)
        #expect(sizeFirst.duplicates == hashedAll.duplicates && sizeFirst.duplicates >= 5, "\(sizeFirst.duplicates)")
    }
}
