// Writing an unpacked file's bytes to disk without amplification: blocks of zeros become holes
// (a layer of a few hundred bytes can hold a GNU sparse file of 8 GiB, or a gzip stream that
// inflates to gigabytes of zeros), and the data actually written may not fill the filesystem.
//
// The limit policy: unpacking stops with an error naming the layer and the entry as soon as the
// filesystem it writes to would keep less than 5% of its size (at most 1 GiB) free. An image
// whose files do not fit is refused before it disturbs the host; images that fit are untouched.
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

struct SparseWriter {
    /// Holes are made of whole blocks of this size (the usual filesystem block).
    static let blockSize = 4096
    /// Free space is looked at again after this many bytes were written.
    static let checkInterval: Int64 = 8 << 20
    var sinceCheck: Int64 = 0

    /// The free space (bytes) unpacking must leave on the filesystem of `fd`.
    static func reserve(_ fd: Int32) -> (free: Int64, floor: Int64)? {
        var s = statvfs()
        guard fstatvfs(fd, &s) == 0 else { return nil }
        let size = Int64(s.f_blocks) * Int64(s.f_frsize)
        return (Int64(s.f_bavail) * Int64(s.f_frsize), min(size / 20, 1 << 30))
    }

    /// Writes `data` at `offset` of `fd`, skipping whole zero blocks (left as holes; the caller
    /// sets the file's size with ftruncate at the end). `what` names the layer entry for errors.
    mutating func write(_ fd: Int32, _ data: UnsafeRawBufferPointer, at offset: Int64, what: () -> String) throws(LayerError) {
        var start = 0
        while start < data.count {
            // Up to the next block boundary of the file.
            let boundary = Int((offset + Int64(start)) / Int64(Self.blockSize) + 1) * Self.blockSize - Int(offset)
            var end = min(boundary, data.count)
            let block = UnsafeRawBufferPointer(rebasing: data[start..<end])
            if end - start == Self.blockSize && isAllZero(block) { start = end; continue }
            // Non-zero data (or a partial block): write it with the following non-zero blocks.
            while end < data.count {
                let next = min(end + Self.blockSize, data.count)
                if next - end == Self.blockSize && isAllZero(UnsafeRawBufferPointer(rebasing: data[end..<next])) { break }
                end = next
            }
            try checkSpace(fd, adding: Int64(end - start), what: what)
            var done = start
            while done < end {
                let n = pwrite(fd, data.baseAddress! + done, end - done, off_t(offset) + off_t(done))
                if n < 0 {
                    if errno == EINTR { continue }
                    throw LayerError(.system(subject: what(), operation: "write", errno: errno))
                }
                done += n
            }
            start = end
        }
    }

    mutating func checkSpace(_ fd: Int32, adding bytes: Int64, what: () -> String) throws(LayerError) {
        sinceCheck += bytes
        guard sinceCheck >= Self.checkInterval || bytes >= Self.checkInterval else { return }
        sinceCheck = 0
        guard let (free, floor) = Self.reserve(fd), free - bytes < floor else { return }
        throw LayerError(
            .noSpace(
                "\(what()): unpacking stopped: the filesystem would keep less than \(floor >> 20) MiB free (\(free >> 20) MiB left; gvmc leaves 5% of it, at most 1 GiB, free); make room or use a smaller image"
            ))
    }
}
