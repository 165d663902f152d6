// Removing a tree of the cache or of a build (step layers, unpacked images, build directories)
// without following symlinks or leaving the filesystem, as `rm -rf --one-file-system` would.
import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Removes trees without following symlinks (`rm -rf` that cannot be led outside the tree).
public enum TreeRemoval {
    /// Removes a tree (no symlink is followed).
    ///
    /// Walked through directory descriptors (`openat` with `O_NOFOLLOW`, `unlinkat`), not paths: a
    /// directory swapped for a symlink while the tree is removed is never entered, and names that
    /// are not UTF-8 are removed as the bytes they are. The walk goes at most `maxDepth` levels
    /// down at a time (one descriptor and one stack frame per level): a directory that deep is
    /// moved up into the top directory and removed from there, so a tree of any depth (a RUN step
    /// can make 100,000 levels) is removed without exhausting the stack or the descriptors.
    public static func remove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR else { unlink(path); return }
        let slash = path.lastIndex(of: "/")
        let parentPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        // O_PATH: search permission on the parent is enough, as for unlink(2) by path.
        let parent = open(parentPath, gvmc_o_path | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        var walk = Walk(device: st.st_dev)
        walk.removeEntry(in: parent, Array(name.utf8CString), depth: 0)
    }

    /// Levels walked down at a time.
    static let maxDepth = 200

    private struct Walk {
        /// Never descends into a directory of another filesystem: a mount left below the tree
        /// (an overlay a killed build left mounted and that could not be detached, a bind mount
        /// of a host directory) is left alone rather than emptied. Only directories are compared:
        /// overlayfs reports a lower layer's device for some files, never for directories.
        let device: dev_t
        /// The top directory while it is open, and the names of directories moved up into it.
        var top: Int32 = -1
        var movedUp: [[CChar]] = []
        var moves = 0

        mutating func removeEntry(in parent: Int32, _ name: [CChar], depth: Int) {
            var st = stat()
            guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
            guard st.st_mode & S_IFMT == S_IFDIR else { unlinkat(parent, name, 0); return }
            guard st.st_dev == device else { return }
            if depth >= TreeRemoval.maxDepth && top >= 0 && moveUp(parent, name) { return }
            guard let fd = TreeRemoval.openDirectory(parent, name, st) else { return }
            guard let dir = fdopendir(fd) else { close(fd); return }
            defer { closedir(dir) }
            var children: [[CChar]] = []
            while let e = readdir(dir) {
                let child = withUnsafeBytes(of: e.pointee.d_name) { raw in
                    Array(raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
                }
                if child != [46, 0] && child != [46, 46, 0] { children.append(child) }
            }
            if depth == 0 { top = fd }
            for child in children { removeEntry(in: fd, child, depth: depth + 1) }
            if depth == 0 {
                // What was moved up may move up again; the list ends since each move takes a
                // directory `maxDepth` levels closer to the top.
                while let moved = movedUp.popLast() { removeEntry(in: fd, moved, depth: 1) }
                top = -1
            }
            unlinkat(parent, name, AT_REMOVEDIR)
        }

        /// Renames the directory `name` of `parent` into the top directory under a new name;
        /// false when it cannot be moved (then it is walked where it is).
        mutating func moveUp(_ parent: Int32, _ name: [CChar]) -> Bool {
            for _ in 0..<100 {
                moves += 1
                let target = Array(".gvmc-removing-\(moves)".utf8CString)
                // An existing empty directory of that name (of the tree, which goes anyway) is
                // replaced; a non-empty one or a file is not: the next name is tried.
                if renameat(parent, name, top, target) == 0 {
                    movedUp.append(target)
                    return true
                }
                if errno != ENOTEMPTY && errno != EEXIST && errno != ENOTDIR && errno != EISDIR { return false }
            }
            return false
        }
    }

    /// The directory `name` of `parent` (whose `fstatat` is `st`), opened without following a
    /// symlink and checked to be that very directory; a directory of ours that we may not read
    /// or write (a 0555 `/` or `/boot` of an image, unpacked without root) is opened up first,
    /// through its own descriptor, as root needs not.
    static func openDirectory(_ parent: Int32, _ name: [CChar], _ st: stat) -> Int32? {
        let ours = geteuid() != 0 && st.st_uid == geteuid()
        var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        if fd < 0 && errno == EACCES && ours {
            // Not even readable (0000, 0300): changed through an O_PATH descriptor checked to be
            // the directory that was looked at, then opened.
            let handle = openat(parent, name, gvmc_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if handle >= 0 {
                var h = stat()
                if fstat(handle, &h) == 0 && h.st_dev == st.st_dev && h.st_ino == st.st_ino {
                    chmod("/proc/self/fd/\(handle)", mode_t(st.st_mode & 0o7777) | 0o700)
                }
                close(handle)
                fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
        }
        guard fd >= 0 else { return nil }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_dev == st.st_dev, opened.st_ino == st.st_ino else {
            close(fd)
            return nil
        }
        if ours && opened.st_mode & 0o700 != 0o700 { fchmod(fd, mode_t(opened.st_mode & 0o7777) | 0o700) }
        return fd
    }
}
