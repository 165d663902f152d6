// Copying files and trees exactly (types, modes, owners, times, xattrs, hardlinks), without
// following symlinks below the top: the executor's FROM <stage> and COPY primitives.
import BuildCache
import CSystem
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// A numeric owner (uid and gid) to give copied entries.
public struct Ownership: Sendable { public var uid: UInt32; public var gid: UInt32 }

/// What a filtered copy does with one entry, given its path relative to the copy's source:
/// copy it (a directory with everything the filter lets through below it), leave it out, or
/// leave a directory itself out but look inside (it is created only when something inside is
/// copied, as BuildKit's include/exclude patterns and `.dockerignore` exceptions work).
public enum CopyDecision: Sendable { case include, skip, descend }
public typealias CopyFilter = (String) -> CopyDecision

/// Copies files and trees exactly, without following symlinks below the top.
public enum TreeCopy {
    /// Copies `source` (a file, symlink, device or directory tree) to `destination`, which must
    /// not exist. `owner` and `mode` override every copied entry's when given.
    public static func copy(
        _ source: String, to destination: String, owner: Ownership? = nil, mode: ModeChange? = nil,
        filter: CopyFilter = { _ in .include }, relative: String = ""
    ) throws(ExecutorError) {
        var links: [String: String] = [:]
        var st = stat()
        guard lstat(source, &st) == 0 else { throw .errno("stat", source) }
        try copyEntry(source, st, destination, owner: owner, mode: mode, links: &links, filter: filter, relative: relative)
    }

    /// Copies what is inside the directory `source` into the existing directory `destination`,
    /// merging with the directories already there (their owner, mode and times become the
    /// source's, as BuildKit's copy does). Returns whether anything was copied.
    @discardableResult
    public static func copyContents(
        of source: String, into destination: String, owner: Ownership? = nil, mode: ModeChange? = nil,
        filter: CopyFilter = { _ in .include }, relative: String = ""
    ) throws(ExecutorError) -> Bool {
        var links: [String: String] = [:]
        return try mergeChildren(source, destination, owner: owner, mode: mode, links: &links, filter: filter, relative: relative)
    }

    static func mergeChildren(
        _ source: String, _ destination: String, owner: Ownership?, mode: ModeChange?,
        links: inout [String: String], filter: CopyFilter, relative: String
    ) throws(ExecutorError) -> Bool {
        guard let names = listDirectory(source) else { throw .errno("opendir", source) }
        var copied = false
        for name in names.sorted() {
            let rel = relative.isEmpty ? name : relative + "/" + name
            let decision = filter(rel)
            if decision == .skip { continue }
            let from = source + "/" + name, to = destination + "/" + name
            var st = stat()
            guard lstat(from, &st) == 0 else { throw .errno("stat", from) }
            let sourceIsDirectory = st.st_mode & S_IFMT == S_IFDIR
            if decision == .descend && !sourceIsDirectory { continue }
            var target = stat()
            let targetExists = lstat(to, &target) == 0
            if sourceIsDirectory && targetExists && target.st_mode & S_IFMT == S_IFDIR {
                let inner = try mergeChildren(from, to, owner: owner, mode: mode, links: &links, filter: filter, relative: rel)
                if decision == .include || inner {
                    try applyMetadata(st, from, to, owner: owner, mode: mode)
                    copied = true
                }
            } else if decision == .include {
                if targetExists { remove(to) }
                try copyEntry(from, st, to, owner: owner, mode: mode, links: &links, filter: filter, relative: rel)
                copied = true
            } else {
                // A directory left out itself: made only if something inside is copied.
                if targetExists { throw ExecutorError("copy \(rel): \(to) exists and is not a directory") }
                guard mkdir(to, 0o700) == 0 else { throw .errno("mkdir", to) }
                if try mergeChildren(from, to, owner: owner, mode: mode, links: &links, filter: filter, relative: rel) {
                    try applyMetadata(st, from, to, owner: owner, mode: mode)
                    copied = true
                } else {
                    rmdir(to)
                }
            }
        }
        return copied
    }

    /// Copies one entry whose `lstat` is `st`.
    static func copyEntry(
        _ source: String, _ st: stat, _ destination: String, owner: Ownership?, mode: ModeChange?,
        links: inout [String: String], filter: CopyFilter, relative: String
    ) throws(ExecutorError) {
        let type = st.st_mode & S_IFMT
        if type != S_IFDIR && st.st_nlink > 1 {
            let key = "\(st.st_dev):\(st.st_ino)"
            if let first = links[key] {
                guard link(first, destination) == 0 else { throw .errno("link", destination) }
                return
            }
            links[key] = destination
        }
        switch type {
        case S_IFDIR:
            guard mkdir(destination, 0o700) == 0 || Glibc.errno == EEXIST else { throw .errno("mkdir", destination) }
            _ = try mergeChildren(source, destination, owner: owner, mode: mode, links: &links, filter: filter, relative: relative)
        case S_IFREG:
            let input = open(source, O_RDONLY | O_NOFOLLOW)
            guard input >= 0 else { throw .errno("open", source) }
            defer { close(input) }
            let output = open(destination, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600)
            guard output >= 0 else { throw .errno("create", destination) }
            defer { close(output) }
            try copyData(input, output, source: source, destination: destination)
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(source, &target, Int(PATH_MAX))
            guard n >= 0 else { throw .errno("readlink", source) }
            target[n] = 0
            guard symlink(target, destination) == 0 else { throw .errno("symlink", destination) }
        case S_IFCHR, S_IFBLK, S_IFIFO, S_IFSOCK:
            let permissions = mode.map { mode_t($0.apply(to: UInt32(st.st_mode & 0o7777), isDirectory: false)) } ?? (st.st_mode & 0o7777)
            guard
                mknod(destination, type | permissions, st.st_rdev) == 0
                    || (errno == EPERM && (type == S_IFCHR || type == S_IFBLK)
                        && RecordedOwner.makeDevice(
                            destination, block: type == S_IFBLK,
                            major: UInt32((st.st_rdev >> 8) & 0xFFF) | UInt32((st.st_rdev >> 32) & ~0xFFF),
                            minor: UInt32(st.st_rdev & 0xFF) | UInt32((st.st_rdev >> 12) & ~0xFF)) == 0)
            else { throw .errno("mknod", destination) }
        default:
            return
        }
        try applyMetadata(st, source, destination, owner: owner, mode: mode)
    }

    /// Owner, mode, xattrs and times of `source` (whose `lstat` is `st`, or the overrides) onto `destination`.
    static func applyMetadata(
        _ st: stat, _ source: String, _ destination: String, owner: Ownership?, mode: ModeChange?
    ) throws(ExecutorError) {
        let type = st.st_mode & S_IFMT
        let permissions =
            mode.map { mode_t($0.apply(to: UInt32(st.st_mode & 0o7777), isDirectory: type == S_IFDIR)) }
            ?? (st.st_mode & 0o7777)
        // The source's owner, as recorded when an unprivileged build could not set it.
        let recorded = owner == nil && RecordedOwner.isRecording ? RecordedOwner.read(source) : nil
        let uid = owner?.uid ?? recorded?.uid ?? st.st_uid, gid = owner?.gid ?? recorded?.gid ?? st.st_gid
        guard RecordedOwner.set(destination, uid: uid, gid: gid) == 0 else { throw .errno("chown", destination) }
        if type != S_IFLNK {
            guard chmod(destination, permissions) == 0 else { throw .errno("chmod", destination) }
        }
        copyXattrs(source, destination)
        var times = [st.st_atim, st.st_mtim]
        utimensat(AT_FDCWD, destination, &times, AT_SYMLINK_NOFOLLOW)
    }

    /// File contents: copy_file_range (in the kernel, reflinks where the filesystem can), or
    /// read/write where it is not supported between these filesystems. Holes stay holes: only the
    /// data segments SEEK_DATA/SEEK_HOLE report are copied (copy_file_range itself writes a hole
    /// as zeros), and the size is set at the end, so a sparse file from an image (8 GiB apparent,
    /// nothing allocated) costs no space when COPY --from takes it.
    static func copyData(_ input: Int32, _ output: Int32, source: String, destination: String) throws(ExecutorError) {
        var st = stat()
        if fstat(input, &st) == 0, st.st_size > 0, Int64(st.st_blocks) * 512 < Int64(st.st_size) {
            if try copySegments(input, output, size: Int64(st.st_size), destination: destination) { return }
        }
        while true {
            let n = gvmc_copy_file_range(input, output, 1 << 30)
            if n > 0 { continue }
            if n == 0 { return }
            if errno == EINTR { continue }
            guard errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP else { throw .errno("copy", destination) }
            break
        }
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer, 1 << 20)
            if n < 0 { if errno == EINTR { continue }; throw .errno("read", source) }
            if n == 0 { return }
            var done = 0
            while done < n {
                let w = write(output, buffer + done, n - done)
                if w < 0 { if errno == EINTR { continue }; throw .errno("write", destination) }
                done += w
            }
        }
    }

    /// A sparse file's data segments at their offsets, then its size; false (nothing written)
    /// where the filesystems cannot tell holes or copy between themselves.
    static func copySegments(_ input: Int32, _ output: Int32, size: Int64, destination: String) throws(ExecutorError) -> Bool {
        var offset: off_t = 0
        while offset < off_t(size) {
            let data = lseek(input, offset, gvmc_seek_data)
            if data < 0 {
                if errno == ENXIO { break }  // only a hole is left
                if offset == 0 { lseek(input, 0, SEEK_SET); return false }
                throw .errno("seek", destination)
            }
            let hole = lseek(input, data, gvmc_seek_hole)
            guard hole > data else { throw .errno("seek", destination) }
            var from = data, to = data
            while from < hole {
                let n = gvmc_copy_file_range_at(input, &from, output, &to, Int(hole - from))
                if n > 0 { continue }
                if n < 0 && errno == EINTR { continue }
                if offset == 0 && from == data && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP) {
                    lseek(input, 0, SEEK_SET)
                    return false
                }
                throw .errno("copy", destination)
            }
            offset = hole
        }
        guard ftruncate(output, off_t(size)) == 0 else { throw .errno("truncate", destination) }
        return true
    }

    static func copyXattrs(_ source: String, _ destination: String) {
        var none: CChar = 0
        let size = gvmc_llistxattr(source, &none, 0)
        guard size > 0 else { return }
        var names = [CChar](repeating: 0, count: size + 1)
        let n = gvmc_llistxattr(source, &names, names.count)
        guard n > 0 else { return }
        var start = 0
        for i in 0..<n where names[i] == 0 {
            let name = Array(names[start...i])
            start = i + 1
            // An owner record is the destination's own (set with its owner).
            if name.dropLast().elementsEqual(RecordedOwner.xattrName.utf8.map { CChar(bitPattern: $0) }) { continue }
            var value = [UInt8](repeating: 0, count: 65536)
            let v = gvmc_lgetxattr(source, name, &value, value.count)
            if v >= 0 { _ = gvmc_lsetxattr(destination, name, value, v) }
        }
    }
}
