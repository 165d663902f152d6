// Paths inside a stage's root resolved on the real filesystem as a process chrooted there would
// resolve them: symlinks (absolute ones start again at the root), `..` stopping at the root,
// loops refused; whatever an image plants, the path that comes out stays inside the root.
import Foundation
@testable import Executor
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct RootPaths {
    let scratch = Scratch()
    var root: String { scratch.sub("root") }

    init() throws {
        for dir in ["etc", "real/sub", "a", "c", "deep/er"] {
            try FileManager.default.createDirectory(atPath: scratch.sub("root/" + dir), withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: scratch.sub("root/etc/passwd"), contents: Data("root:x:0:0::/root:/bin/sh\n".utf8))
    }

    func link(_ name: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + name, withDestinationPath: target)
    }

    @Test func anAbsoluteSymlinkStartsAgainAtTheRoot() throws {
        try link("abs", to: "/real")
        try link("deep/er/abs", to: "/real/sub")
        #expect(try scopedPath(root, "/abs/sub/new") == "/real/sub/new")
        #expect(try scopedPath(root, "/deep/er/abs/new") == "/real/sub/new", "not /deep/er/real/sub/new")
        #expect(try scopedPath(root, "abs/sub") == "/real/sub", "a relative path is taken from the root")
    }

    @Test func aRelativeSymlinkResolvesFromItsDirectory() throws {
        try link("a/b", to: "../c")
        try link("deep/er/up", to: "../../real/./sub")
        #expect(try scopedPath(root, "/a/b/file") == "/c/file")
        #expect(try scopedPath(root, "/deep/er/up/x") == "/real/sub/x")
    }

    @Test func dotDotStopsAtTheRoot() throws {
        try link("climb", to: "../../../../..")
        #expect(try scopedPath(root, "/../../etc/passwd") == "/etc/passwd")
        #expect(try scopedPath(root, "/real/../../../c") == "/c")
        #expect(try scopedPath(root, "/climb/etc") == "/etc")
        #expect(try scopedPath(root, "/climb") == "/", "a last component leading to a directory is followed")
    }

    /// An image's `/etc` pointing at the host's: what gvmc writes through it lands in the root's
    /// /etc, and the host's /etc is untouched.
    @Test func aSymlinkToTheHostsEtcStaysInsideTheRoot() throws {
        try FileManager.default.removeItem(atPath: root + "/etc")
        try FileManager.default.createDirectory(atPath: root + "/host-etc", withIntermediateDirectories: true)
        try link("etc", to: "/host-etc")
        try link("deep/er/escape", to: "/etc")
        let name = "gvmc-rootpaths-\(getpid())-\(UUID().uuidString)"
        let inside = try scopedPath(root, "/deep/er/escape/" + name)
        #expect(inside == "/host-etc/" + name)
        #expect(FileManager.default.createFile(atPath: root + inside, contents: Data("planted\n".utf8)))
        #expect(FileManager.default.fileExists(atPath: root + "/host-etc/" + name))
        #expect(!FileManager.default.fileExists(atPath: "/etc/" + name), "the host's /etc was written")
        #expect(!FileManager.default.fileExists(atPath: "/host-etc"))
    }

    @Test func aSymlinkLoopIsAnErrorAsForTheKernel() throws {
        try link("loop1", to: "loop2")
        try link("loop2", to: "/loop1")
        try link("self", to: "self")
        for path in ["/loop1/x", "/self/x", "/loop2"] {
            var message = "resolved"
            do { _ = try scopedPath(root, path) } catch { message = error.message }
            #expect(message.hasSuffix(": too many levels of symbolic links"), "\(path): \(message)")
        }
    }

    /// A symlink to a file as the last component is the name to replace, not followed; one to a
    /// directory is followed, as `COPY x /link/` writes into the directory.
    @Test func theLastComponentIsFollowedOnlyToADirectory() throws {
        try link("passwd-link", to: "/etc/passwd")
        try link("dir-link", to: "real")
        try link("dangling", to: "/nowhere")
        #expect(try scopedPath(root, "/passwd-link") == "/passwd-link")
        #expect(try scopedPath(root, "/dir-link") == "/real")
        #expect(try scopedPath(root, "/dangling") == "/dangling")
    }
}
