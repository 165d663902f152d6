// Reading a file of the image being built, as a process chrooted into its root would: the
// image's symlinks (absolute or relative) and `..` resolve inside the root, never on the host,
// and only a regular file of bounded size is read (not a device, FIFO or socket the image
// planted where a text file is expected).
import CSystem
#if canImport(Glibc)
import Glibc
#endif

enum ImageFiles {
    /// Files the build reads out of images (/etc/passwd, /etc/group) are small; a larger one is
    /// refused rather than read into memory.
    static let defaultLimit = 16 << 20

    /// The contents of `path` inside `root`; nil when it does not exist. Throws when it is not a
    /// regular file, is larger than `limit`, or cannot be read.
    static func read(_ path: String, in root: String, limit: Int = defaultLimit) throws(ExecutorError) -> [UInt8]? {
        let rootFD = open(root, gvmc_o_path | O_DIRECTORY | O_CLOEXEC)
        guard rootFD >= 0 else { throw .errno("open", root) }
        defer { close(rootFD) }
        // gvmc_o_path first: opening a device or FIFO for reading has effects (or blocks); the type is
        // checked before the file is opened for its data.
        let pathFD = gvmc_open_in_root(rootFD, path, gvmc_o_path)
        guard pathFD >= 0 else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw ExecutorError(.imageFile(path: path, operation: nil, errno: errno))
        }
        defer { close(pathFD) }
        var st = stat()
        guard fstat(pathFD, &st) == 0 else { throw ExecutorError(.imageFile(path: path, operation: nil, errno: errno)) }
        guard st.st_mode & S_IFMT == S_IFREG else {
            throw ExecutorError("\(path) in the image is \(typeName(st.st_mode)), not a regular file")
        }
        guard st.st_size <= limit else {
            throw ExecutorError("\(path) in the image is \(st.st_size) bytes, more than the \(limit >> 20) MiB read at build time")
        }
        // Reopening the gvmc_o_path descriptor through /proc opens this very inode (no new lookup).
        let fd = open("/proc/self/fd/\(pathFD)", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
        guard fd >= 0 else { throw ExecutorError(.imageFile(path: path, operation: nil, errno: errno)) }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var filled = 0
        while filled < out.count {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ExecutorError(.imageFile(path: path, operation: "read", errno: errno)) }
            if n == 0 { break }
            filled += n
            // The file grew after fstat: still bounded.
            if filled > limit { throw ExecutorError("\(path) in the image is larger than the \(limit >> 20) MiB read at build time") }
        }
        return Array(out[0..<filled])
    }

    static func typeName(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: return "a directory"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        default: return "not a regular file"
        }
    }
}
