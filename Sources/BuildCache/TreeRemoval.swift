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
    /// are not UTF-8 are removed as the bytes they are.
    public static func remove(_ path: String) {
        var st = stat()
        guard lstat(path, &st) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR else { unlink(path); return }
        let slash = path.lastIndex(of: "/")
        let parentPath = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
        let parent = open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard parent >= 0 else { return }
        defer { close(parent) }
        removeEntry(in: parent, Array(name.utf8CString), device: st.st_dev)
    }

    /// Never descends into a directory of another filesystem: a mount left below the tree (an
    /// overlay a killed build left mounted and that could not be detached, a bind mount of a host
    /// directory) is left alone rather than emptied. Only directories are compared: overlayfs
    /// reports a lower layer's device for some files, never for directories.
    private static func removeEntry(in parent: Int32, _ name: [CChar], device: dev_t) {
        var st = stat()
        guard fstatat(parent, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return }
        guard st.st_mode & S_IFMT == S_IFDIR else { unlinkat(parent, name, 0); return }
        guard st.st_dev == device else { return }
        // A directory of ours that we may not read or write (a 0555 `/` or `/boot` of an image,
        // unpacked without root): opened up first, as root needs not. It is changed through a
        // descriptor of that very directory (O_PATH, no symlink followed), not by name.
        if geteuid() != 0 && st.st_uid == geteuid() && st.st_mode & 0o700 != 0o700 {
            let handle = openat(parent, name, gvmc_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if handle >= 0 {
                chmod("/proc/self/fd/\(handle)", mode_t(st.st_mode & 0o7777) | 0o700)
                close(handle)
            }
        }
        var fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        // One descriptor per level: a tree deeper than the soft limit of open files raises it
        // to the hard limit (a path of 4 KiB holds 2,048 levels; the soft limit is often 1,024).
        if fd < 0 && errno == EMFILE {
            var limit = rlimit()
            if getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 && limit.rlim_cur < limit.rlim_max {
                limit.rlim_cur = limit.rlim_max
                _ = setrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit)
                fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
        }
        guard fd >= 0 else { return }
        var opened = stat()
        guard fstat(fd, &opened) == 0, opened.st_dev == st.st_dev, opened.st_ino == st.st_ino,
            let dir = fdopendir(fd)
        else { close(fd); return }
        defer { closedir(dir) }
        var children: [[CChar]] = []
        while let e = readdir(dir) {
            let child = withUnsafeBytes(of: e.pointee.d_name) { raw in
                Array(raw.prefix { $0 != 0 }.map { CChar(bitPattern: $0) }) + [0]
            }
            if child != [46, 0] && child != [46, 46, 0] { children.append(child) }
        }
        for child in children { removeEntry(in: fd, child, device: device) }
        unlinkat(parent, name, AT_REMOVEDIR)
    }
}
