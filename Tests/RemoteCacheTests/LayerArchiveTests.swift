// Step layers as OCI layers and back: the overlay upper directory a build leaves (whiteouts,
// opaque directories, hard links, long and non-ASCII names, xattrs, devices) survives the round
// trip exactly; GNU tar reads what we write as an OCI layer; hostile archives are refused.
import CSystem
import Foundation
import ImageSpec
@testable import RemoteCache
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// Scratch directories of this test process, removed when it exits.
let scratchRoot: String = {
    var template = Array("/tmp/gvmc-remotecache-XXXXXX".utf8CString)
    let dir = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    atexit { _ = try? FileManager.default.removeItem(atPath: scratchRoot) }
    return dir
}()

func tempDirectory() -> String {
    var template = Array((scratchRoot + "/XXXXXX").utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func write(_ path: String, _ text: String) { FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) }

@Suite(.enabled(if: getuid() == 0, "needs root (overlay whiteouts are 0/0 device nodes, trusted.* xattrs)"))
struct LayerArchiveTests {
    /// An upper directory as overlayfs leaves it after a step.
    func makeUpper() throws -> String {
        let dir = tempDirectory()
        let fm = FileManager.default
        try fm.createDirectory(atPath: dir + "/etc/deep/er", withIntermediateDirectories: true)
        write(dir + "/etc/greeting", "hello\n")
        #expect(link(dir + "/etc/greeting", dir + "/etc/hard") == 0)
        #expect(symlink("greeting", dir + "/etc/link") == 0)
        let long = String(repeating: "n", count: 120)
        write(dir + "/etc/deep/er/" + long, "long name\n")
        write(dir + "/etc/deep/日本語.txt", "utf-8\n")
        #expect(mknod(dir + "/etc/removed", S_IFCHR | 0o600, 0) == 0, "a whiteout")
        #expect(mknod(dir + "/etc/tty0", S_IFCHR | 0o620, (4 << 8) | 0) == 0)
        #expect(mkfifo(dir + "/etc/fifo", 0o640) == 0)
        #expect(gvmc_lsetxattr(dir + "/etc/deep", "trusted.overlay.opaque", "y", 1) == 0)
        #expect(gvmc_lsetxattr(dir + "/etc/greeting", "user.note", "kept", 4) == 0)
        #expect(gvmc_lsetxattr(dir + "/etc/greeting", "trusted.overlay.origin", "xx", 2) == 0)
        #expect(chown(dir + "/etc/greeting", 1000, 1001) == 0)
        #expect(chmod(dir + "/etc/deep", 0o2750) == 0)
        var times = [timespec(tv_sec: 1_600_000_000, tv_nsec: 0), timespec(tv_sec: 1_600_000_000, tv_nsec: 0)]
        // The whiteout too: its time must come back from the archive, not from the import's clock.
        for p in ["/etc/greeting", "/etc/removed", "/etc/deep/er", "/etc/deep", "/etc", ""] {
            utimensat(AT_FDCWD, dir + p, &times, AT_SYMLINK_NOFOLLOW)
        }
        return dir
    }

    @Test(arguments: LayerCompression.allCases)
    func roundTripKeepsTheLayerExactly(_ compression: LayerCompression) throws {
        let upper = try makeUpper()
        let blob = tempDirectory() + "/layer"
        let (digest, size) = try LayerExport.write(upper, to: blob, compression: compression, userXattrs: false)
        let bytes = try #require(FileManager.default.contents(atPath: blob))
        #expect(Int64(bytes.count) == size)
        #expect("sha256:" + Tools.run(["sha256sum", blob]).output.prefix(64) == digest)
        // The same tree gives the same archive.
        let again = tempDirectory() + "/layer"
        #expect(try LayerExport.write(upper, to: again, compression: compression, userXattrs: false).digest == digest)

        let out = tempDirectory()
        try LayerImport.extract(blob, name: "test layer", into: out, userXattrs: false)
        var expected = try TreeSnapshot.take(upper)
        // Overlay's own xattrs other than opaque are not carried over.
        expected["/etc/greeting"]?.xattrs["trusted.overlay.origin"] = nil
        expected["/etc/hard"]?.xattrs["trusted.overlay.origin"] = nil
        let got = try TreeSnapshot.take(out)
        #expect(TreeSnapshot.diff(expected, got).isEmpty, "\(TreeSnapshot.diff(expected, got))")
    }

    /// What other tools see: an OCI layer with `.wh.` whiteouts and the opaque marker.
    @Test func gnuTarReadsTheOCIForm() throws {
        let upper = try makeUpper()
        let blob = tempDirectory() + "/layer.tar.gz"
        _ = try LayerExport.write(upper, to: blob, compression: .gzip, userXattrs: false)
        let listing = Tools.run(["tar", "-tvzf", blob])
        #expect(listing.status == 0, "\(listing.output)")
        let names = Set(Tools.run(["tar", "-tzf", blob]).output.split(separator: "\n").map(String.init))
        for name in [
            "./", "etc/", "etc/.wh.removed", "etc/deep/.wh..wh..opq", "etc/greeting", "etc/hard", "etc/link", "etc/deep/日本語.txt",
            "etc/deep/er/" + String(repeating: "n", count: 120), "etc/tty0", "etc/fifo"
        ] {
            #expect(names.contains(name), "\(name) in \(names.sorted())")
        }
        #expect(!names.contains("etc/removed"))
        #expect(listing.output.contains("1000/1001"), "owner kept: \(listing.output)")
        #expect(listing.output.contains("etc/hard link to etc/greeting"))
    }

    /// Archives a hostile cache could hold: each is refused, and nothing lands outside.
    @Test(arguments: [
        ("dotdot", [("../escape", "file", "")], "leaves the layer"),
        ("symlink-parent", [("a", "symlink", "/tmp"), ("a/escape", "file", "")], "not a directory"),
        ("hardlink-outside", [("h", "hardlink", "/etc/passwd")], "not a file of this layer"),
        ("hardlink-dotdot", [("h", "hardlink", "../../etc/passwd")], "not a file of this layer"),
        ("hardlink-to-symlink", [("s", "symlink", "/etc/passwd"), ("h", "hardlink", "s")], "not a file of this layer"),
        ("whiteout-dotdot", [("d/x", "file", ""), ("d/.wh..", "file", "")], "a whiteout of"),
        ("file-over-directory", [("d/x", "file", ""), ("d", "file", "")], "replaces a directory")
    ])
    func hostileArchivesAreRefused(_ name: String, _ entries: [(String, String, String)], _ message: String) throws {
        let blob = tempDirectory() + "/\(name).tar"
        let script = """
            import tarfile, io, sys
            t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
            for spec in sys.argv[2:]:
                n, kind, target = spec.split("|")
                i = tarfile.TarInfo(n)
                if kind == "symlink": i.type = tarfile.SYMTYPE; i.linkname = target
                elif kind == "hardlink": i.type = tarfile.LNKTYPE; i.linkname = target
                t.addfile(i, io.BytesIO(b""))
            t.close()
            """
        let r = Tools.run(["python3", "-c", script, blob] + entries.map { "\($0.0)|\($0.1)|\($0.2)" })
        try #require(r.status == 0, "\(r.output)")
        let parent = tempDirectory()
        let out = parent + "/layer"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: false)
        let error = #expect(throws: CacheError.self) { try LayerImport.extract(blob, name: name, into: out, userXattrs: false) }
        #expect(error?.message.contains(message) == true, "\(String(describing: error))")
        #expect(!FileManager.default.fileExists(atPath: parent + "/escape"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/escape"))
    }

    /// xattrs that would steer overlayfs (redirects to other paths, metacopy) are dropped.
    @Test func overlayXattrsInAnArchiveAreDropped() throws {
        let blob = tempDirectory() + "/x.tar"
        let script = """
            import tarfile, io, sys
            t = tarfile.open(sys.argv[1], "w", format=tarfile.PAX_FORMAT)
            i = tarfile.TarInfo("d"); i.type = tarfile.DIRTYPE; i.mode = 0o755
            i.pax_headers = {"SCHILY.xattr.trusted.overlay.redirect": "/etc", "SCHILY.xattr.user.keep": "v"}
            t.addfile(i)
            t.close()
            """
        try #require(Tools.run(["python3", "-c", script, blob]).status == 0)
        let out = tempDirectory()
        try LayerImport.extract(blob, name: "x", into: out, userXattrs: false)
        let snap = try TreeSnapshot.take(out)
        #expect(snap["/d"]?.xattrs["trusted.overlay.redirect"] == nil)
        #expect(snap["/d"]?.xattrs["user.keep"] == Array("v".utf8))
    }
}

struct CacheFormatTests {
    @Test func specsParseAsBuildxWrites() throws {
        let r = try CacheSpec("type=registry,ref=127.0.0.1:5000/ci/cache:main,mode=max,compression=zstd", export: true)
        #expect(r.label == "registry 127.0.0.1:5000/ci/cache:main" && r.mode == .max && r.compression == .zstd)
        #expect(try CacheSpec("127.0.0.1:5000/ci/cache", export: false).label == "registry 127.0.0.1:5000/ci/cache:latest")
        let l = try CacheSpec("type=local,dest=/tmp/c,tag=v1,ignore-error=true", export: true)
        #expect(l.location == .local(directory: "/tmp/c", tag: "v1") && l.ignoreError)
        for (bad, why) in [
            ("type=s3,bucket=x", "not supported"), ("type=local,dest=/x", "src="), ("type=registry", "ref="),
            ("type=registry,ref=a/b,mode=max", "for --cache-to"), ("type=registry,ref=a/b,colour=red", "unknown key colour")
        ] {
            #expect(throws: CacheError.self) { try CacheSpec(bad, export: false) }
            do { _ = try CacheSpec(bad, export: false) } catch { #expect(error.message.contains(why), "\(bad): \(error.message)") }
        }
        let pinned = #expect(throws: CacheError.self) {
            try CacheSpec("type=registry,ref=h/r@sha256:" + String(repeating: "a", count: 64), export: true)
        }
        #expect(pinned?.message.contains("not a digest") == true)
    }

    func record(_ key: String, _ layer: String, _ size: Int64, _ time: Int64) -> CacheRecord {
        CacheRecord(key: key, layer: layer, size: size, mediaType: LayerCompression.gzip.mediaType, stage: 0, exported: time)
    }

    /// Exports accumulate; past the bound the oldest records go first, never the new ones.
    @Test func mergeKeepsOthersAndDropsTheOldestPastTheBound() {
        let old = CacheIndex(records: (0..<CacheIndex.maximumRecords).map { record("k\($0)", "sha256:l\($0)", 1, Int64($0)) })
        let merged = old.merged(with: [record("new", "sha256:n", 1, 99999), record("k5", "sha256:l5", 1, 99999)])
        #expect(merged.records.count == CacheIndex.maximumRecords)
        #expect(merged.records.prefix(2).map(\.key) == ["new", "k5"])
        #expect(merged.record("k0") == nil, "the oldest record went")
        #expect(merged.record("k1") != nil && merged.record(String("k\(CacheIndex.maximumRecords - 1)")) != nil)
        let big = CacheIndex(records: [record("a", "sha256:a", CacheIndex.maximumBytes - 10, 5), record("b", "sha256:b", 20, 4)])
        #expect(big.merged(with: []).records.map(\.key) == ["a"], "past the byte bound the older record goes")
        let digest = "sha256:" + String(repeating: "c", count: 64)
        let manifest = merged.manifest(config: (digest, 10))
        #expect(CacheIndex.configDescriptor(manifest)?.digest == digest)
        #expect(CacheIndex.configDescriptor(old.manifest(config: ("sha256:../../etc/passwd", 10))) == nil, "a digest that is not one")
        #expect(
            CacheIndex.configDescriptor(
                Array(#"{"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:x","size":1}}"#.utf8)) == nil)
    }
}
