// The reader's unpack (what `gvmc run` uses unprivileged): every kind of entry comes back as it
// was packed, for every compressor (extended attributes are not unpacked).
import Foundation
import SquashFS
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ReaderUnpackTests {
    @Test(.enabled(if: getuid() == 0, "needs root to pack and unpack owners and device nodes"), arguments: Compression.allCases)
    func unpackGivesBackThePackedTree(_ compression: Compression) throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree"), out = scratch.sub("out")
        try makeEverythingTree(tree)
        try pack(tree, to: scratch.sub("image.sqfs")) { $0.compression = CompressionOptions(compression) }
        mkdir(out, 0o755)
        let summary = try SquashFSReader(path: scratch.sub("image.sqfs")).unpack(to: out)
        #expect(summary.skippedDevices.isEmpty)
        func withoutXattrs(_ s: [String: EntrySnapshot]) -> [String: EntrySnapshot] {
            s.mapValues {
                var e = $0; e.xattrs = [:]; return e
            }
        }
        let differences = TreeSnapshot.diff(withoutXattrs(try TreeSnapshot.take(tree)), withoutXattrs(try TreeSnapshot.take(out)))
        #expect(differences.isEmpty, "unpacked tree differs:\n\(differences.prefix(20).joined(separator: "\n"))")
        // Holes stay holes.
        var st = stat()
        stat(out + "/sparse", &st)
        #expect(st.st_blocks * 512 < 1 << 20, "the sparse file was unpacked with its holes filled")
    }
}
