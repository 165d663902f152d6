// For fuzz targets whose reader takes a path (images, layers, packs): each input is written to
// one file of this process in /dev/shm (memory, not disk), replaced by the next input.
#if canImport(Glibc)
import Glibc
#endif

struct InputFile {
    let path: String

    init(_ name: String) { path = "/dev/shm/gvmc-fuzz-\(name)-\(getpid())" }

    /// Writes the input and `suffix` (e.g. a checksum the target computes); returns the file
    /// opened read-write at its start, for readers that take a descriptor.
    @discardableResult
    func write(_ data: UnsafePointer<UInt8>, _ size: Int, suffix: [UInt8] = [], keepOpen: Bool = false) -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        precondition(
            fd >= 0 && Glibc.write(fd, data, size) == size && Glibc.write(fd, suffix, suffix.count) == suffix.count,
            "cannot write \(path)")
        if keepOpen { return fd }
        close(fd)
        return -1
    }
}
