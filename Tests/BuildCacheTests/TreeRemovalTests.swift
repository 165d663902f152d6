// Removing a build's trees never reaches into another filesystem mounted below them (a bind mount
// of a host directory, an overlay that could not be detached): the host's files stay.
import BuildCache
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.enabled(if: getuid() == 0, "needs root (bind mounts)")) struct TreeRemovals {
    @Test func removalStopsAtMountPoints() throws {
        var template = Array("/tmp/gvmc-remove-XXXXXX".utf8CString)
        let scratch = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let host = scratch + "/host", tree = scratch + "/tree"
        for dir in [host, tree + "/stage/sub", tree + "/mounted"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: host + "/keep.txt", contents: Data("host\n".utf8))
        FileManager.default.createFile(atPath: tree + "/stage/sub/file", contents: Data("x".utf8))
        // A tmpfs makes the bind mount a filesystem of its own device even when the scratch
        // directory is on the same one.
        #expect(mount("tmpfs", host, "tmpfs", 0, "size=1m") == 0)
        defer { umount2(host, Int32(MNT_DETACH)) }
        FileManager.default.createFile(atPath: host + "/keep.txt", contents: Data("host\n".utf8))
        #expect(mount(host, tree + "/mounted", nil, UInt(MS_BIND), nil) == 0)
        defer { umount2(tree + "/mounted", Int32(MNT_DETACH)) }

        TreeRemoval.remove(tree)
        #expect((try? String(contentsOfFile: host + "/keep.txt", encoding: .utf8)) == "host\n", "the mounted host directory was emptied")
        #expect(!FileManager.default.fileExists(atPath: tree + "/stage"), "the tree's own files are removed")
    }
}
