// Opening an image to read: only a regular file is opened. A FIFO would block `open` and `read`
// forever, a device may act on being opened (a tape rewinds), a directory reads as EISDIR later.
#if canImport(Glibc)
import Glibc
#endif

/// Opens an image for reading only when it is a regular file.
public enum RegularFile {
    /// Opens `path` read-only if it is a regular file, and returns the descriptor and its size.
    /// The type is checked with stat before the open (so a FIFO or device is never opened) and
    /// again on the descriptor with fstat (so a swap between the two is caught); O_NONBLOCK keeps
    /// the open itself from waiting for a writer if the path changed in between.
    public static func open(_ path: String) throws(SquashFSError) -> (fd: Int32, size: UInt64) {
        var before = stat()
        guard stat(path, &before) == 0 else { throw .io(path: path, operation: "stat", errno: errno) }
        guard before.st_mode & S_IFMT == S_IFREG else { throw .notRegularFile(path: path, type: typeName(before.st_mode)) }
        let fd = Glibc.open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else { throw .io(path: path, operation: "open", errno: errno) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            let e = errno
            close(fd)
            throw .io(path: path, operation: "fstat", errno: e)
        }
        guard st.st_mode & S_IFMT == S_IFREG, st.st_dev == before.st_dev, st.st_ino == before.st_ino else {
            close(fd)
            throw .notRegularFile(path: path, type: st.st_mode & S_IFMT == S_IFREG ? "a file replaced while opening" : typeName(st.st_mode))
        }
        return (fd, UInt64(max(0, st.st_size)))
    }

    /// Up to `count` bytes at `offset` (fewer only where the file ends), retrying short reads.
    /// The caller bounds `count` and `offset` by the file size, so both fit Int and off_t.
    public static func read(_ fd: Int32, path: String, count: Int, at offset: UInt64) throws(SquashFSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var done = 0
        while done < count {
            let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, count - done, off_t(offset) + off_t(done)) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .io(path: path, operation: "read", errno: errno) }
            if n == 0 { break }
            done += n
        }
        return done == count ? out : Array(out[0..<done])
    }

    static func typeName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFIFO: return "a FIFO"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFSOCK: return "a socket"
        case S_IFLNK: return "a symlink"
        default: return "not a regular file"
        }
    }
}
