// A file to upload, mapped read-only, so a blob's bytes go from the page cache to libcurl
// without a copy in between (a 32 MiB chunk is a slice of the mapping, not a buffer).
import Foundation

final class MappedFile {
    let path: String
    let size: Int
    private let base: UnsafeRawPointer?

    /// Maps `path`, which must be a regular file of `expectedSize` bytes.
    init(_ path: String, expectedSize: Int64) throws(RegistryError) {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw RegistryError.system("", path, ": cannot open") }
        defer { close(fd) }  // the mapping outlives the descriptor
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw RegistryError("\(path): not a regular file") }
        guard Int64(st.st_size) == expectedSize else {
            throw RegistryError("\(path): the file has \(st.st_size) bytes, not the \(expectedSize) the blob's descriptor says")
        }
        size = Int(st.st_size)
        guard size > 0 else { base = nil; return }  // mmap refuses a length of 0
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw RegistryError.system("", path, ": cannot map")
        }
        base = UnsafeRawPointer(mapped)
    }

    deinit { if let base { munmap(UnsafeMutableRawPointer(mutating: base), size) } }

    /// Bytes `range` of the file; valid while this object lives (the caller keeps it alive for
    /// the request that sends them). A file truncated meanwhile by someone else faults with
    /// SIGBUS, as any mapped reader would: blobs are written once and then only read.
    func bytes(_ range: Range<Int>) -> UnsafeRawBufferPointer {
        precondition(range.lowerBound >= 0 && range.upperBound <= size)
        return UnsafeRawBufferPointer(start: base.map { $0 + range.lowerBound }, count: range.count)
    }
}
