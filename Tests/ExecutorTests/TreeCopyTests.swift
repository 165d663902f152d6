// Trees copied and removed on the real filesystem, as COPY --from and the step cache do: the copy
// has the source's modes, owners, times, symlinks and hard links; removal leaves nothing, even
// below directories nobody may write to.
import BuildCache
import Foundation
@testable import Executor
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// As root, as every build runs (in a user namespace when unprivileged): without it owners are
/// recorded in an xattr instead of set, and a read-only directory keeps its entries on removal.
@Suite(.enabled(if: getuid() == 0, "needs root (owners, setuid, read-only directories)")) struct TreeCopies {
    /// A tree with what a copy loses when done naively: odd modes (setuid, sticky, read-only),
    /// old times on files, directories and a symlink, relative, absolute and dangling symlinks, and
    /// a file hard-linked under three names in two directories.
    static func makeSource(_ src: String) throws {
        let fm = FileManager.default
        for dir in ["bin", "etc/conf.d", "empty", "locked", "tmp"] {
            try fm.createDirectory(atPath: src + "/" + dir, withIntermediateDirectories: true)
        }
        for (file, text) in [
            ("bin/tool", "#!/bin/sh\n"), ("etc/conf.d/a.conf", "a=1\n"), ("locked/secret", "s\n"),
            ("bin/big", String(repeating: "y", count: 200_000))
        ] {
            #expect(fm.createFile(atPath: src + "/" + file, contents: Data(text.utf8)))
        }
        #expect(link(src + "/bin/tool", src + "/bin/tool-again") == 0)
        #expect(link(src + "/bin/tool", src + "/etc/tool-link") == 0)
        try fm.createSymbolicLink(atPath: src + "/bin/sh", withDestinationPath: "tool")
        try fm.createSymbolicLink(atPath: src + "/etc/abs", withDestinationPath: "/bin/tool")
        try fm.createSymbolicLink(atPath: src + "/dangling", withDestinationPath: "../nowhere")
        for (path, mode) in [
            ("bin/tool", 0o4755), ("etc/conf.d/a.conf", 0o640), ("tmp", 0o1777), ("locked/secret", 0o400),
            ("locked", 0o500), ("etc/conf.d", 0o750)
        ] as [(String, mode_t)] {
            #expect(chmod(src + "/" + path, mode) == 0)
        }
        #expect(lchown(src + "/etc/abs", 123, 456) == 0 || getuid() != 0)
        // Times last, deepest first: setting a child's time does not change its directory's.
        for (i, path) in [
            "bin/sh", "bin/tool", "bin/big", "etc/conf.d/a.conf", "etc/conf.d", "etc/abs", "locked", "empty", "bin", "etc", ""
        ].enumerated() {
            var times = [
                timespec(tv_sec: 1_000_000_000 + i * 86_400, tv_nsec: 123_456_789),
                timespec(tv_sec: 1_200_000_000 + i * 3600, tv_nsec: 987_654_321)
            ]
            #expect(utimensat(AT_FDCWD, src + "/" + path, &times, AT_SYMLINK_NOFOLLOW) == 0, "\(path)")
        }
    }

    @Test func aCopyKeepsModesTimesSymlinksAndHardLinks() throws {
        let scratch = Scratch()
        let src = scratch.sub("src"), dst = scratch.sub("dst")
        try Self.makeSource(src)
        try TreeCopy.copy(src, to: dst)
        let differences = TreeSnapshot.diff(try TreeSnapshot.take(src), try TreeSnapshot.take(dst))
        #expect(differences.isEmpty, "the copy differs:\n\(differences.joined(separator: "\n"))")
        // What the snapshot does not show: nanoseconds, and the hard links are among the copies
        // (one inode for the three names), not links back to the source.
        func st(_ path: String) -> stat {
            var s = stat()
            #expect(lstat(path, &s) == 0, "\(path)")
            return s
        }
        for path in ["/bin/tool", "/bin", "/bin/sh", ""] {
            #expect(st(dst + path).st_mtim.tv_nsec == 987_654_321, "\(path)")
        }
        let inode = st(dst + "/bin/tool").st_ino
        #expect(st(dst + "/bin/tool-again").st_ino == inode && st(dst + "/etc/tool-link").st_ino == inode)
        #expect(st(dst + "/bin/tool").st_nlink == 3 && inode != st(src + "/bin/tool").st_ino)
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: dst + "/etc/abs") == "/bin/tool")
    }

    /// An owner and --chmod given to the copy replace every entry's, links included.
    @Test func ownerAndModeOverridesApplyToEveryEntry() throws {
        let scratch = Scratch()
        let src = scratch.sub("src"), dst = scratch.sub("dst")
        try Self.makeSource(src)
        try TreeCopy.copy(src, to: dst, owner: getuid() == 0 ? Ownership(uid: 4321, gid: 8765) : nil, mode: try ModeChange("u=rwX,go=rX"))
        for (path, entry) in try TreeSnapshot.take(dst) {
            if getuid() == 0 { #expect(entry.uid == 4321 && entry.gid == 8765, "\(path): \(entry)") }
            switch entry.type {
            case "dir": #expect(entry.mode & 0o777 == 0o755, "\(path): \(entry)")
            case "file":
                #expect(
                    entry.mode & 0o777
                        == (path == "/bin/tool" || path.hasSuffix("tool-again") || path.hasSuffix("tool-link") ? 0o755 : 0o644),
                    "\(path): \(entry)")
            default: break
            }
        }
    }

    /// Names that are not UTF-8 (a tar entry's bytes) and a tree far deeper than the soft limit of
    /// open files and than a walk of one stack frame per level could go (a RUN step can make
    /// one: `for i in $(seq 30000); do mkdir d; cd d; done`) are removed all the same.
    @Test func removalTakesNamesAsBytesAndTreesOfAnyDepth() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        #expect(mkdir(tree, 0o755) == 0)
        let latin1: [CChar] = Array((tree + "/caf").utf8CString.dropLast()) + [CChar(bitPattern: 0xE9), 0]
        #expect(mkdir(latin1, 0o755) == 0)
        let inside = Array(latin1.dropLast()) + Array("/f\u{0}".utf8CString.dropLast().map { $0 }) + [0]
        let file = open(inside, O_CREAT | O_WRONLY | O_CLOEXEC, 0o644)
        #expect(file >= 0)
        close(file)
        // 30,000 levels, made with mkdirat so no path is longer than a name.
        var fd = open(tree, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        for _ in 0..<30000 {
            #expect(mkdirat(fd, "d", 0o755) == 0)
            let next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            close(fd)
            fd = next
        }
        close(fd)
        TreeRemoval.remove(tree)
        var st = stat()
        #expect(lstat(tree, &st) == -1 && errno == ENOENT, "the tree is still there")
    }

    @Test func removalLeavesNothingEvenBelowReadOnlyDirectories() throws {
        let scratch = Scratch()
        let tree = scratch.sub("tree")
        try Self.makeSource(tree)
        // A read-only directory holding another one with no permissions at all.
        #expect(chmod(tree + "/locked", 0o700) == 0)
        try FileManager.default.createDirectory(atPath: tree + "/locked/inner/deeper", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: tree + "/locked/inner/deeper/file", contents: Data("d".utf8)))
        #expect(
            chmod(tree + "/locked/inner/deeper", 0o000) == 0 && chmod(tree + "/locked/inner", 0o555) == 0
                && chmod(tree + "/locked", 0o555) == 0)
        // A symlink out of the tree is removed, not followed.
        let outside = scratch.sub("outside")
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: outside + "/keep", contents: Data("k".utf8)))
        try FileManager.default.createSymbolicLink(atPath: tree + "/out", withDestinationPath: outside)
        TreeRemoval.remove(tree)
        var st = stat()
        let rc = lstat(tree, &st), error = errno
        #expect(rc == -1 && error == ENOENT, "the tree is still there: \(Tools.run(["find", tree]).output)")
        #expect(FileManager.default.fileExists(atPath: outside + "/keep"))
    }
}
