// The block store: compressed data and fragment blocks kept in the cache directory, keyed by the
// SHA-256 of the uncompressed block and of every setting that changes its compressed form
// (compressor, level, its options, the block size, this writer's version). An image written
// again after a small change compresses only the blocks that changed; every other block is read
// from the store. Compression is deterministic, so the image is byte for byte the one a write
// without the store makes.
//
// An entry is one file, `blocks/<64 hex>`: "GVMCBLK1", a flag byte (1 compressed, 0 stored as is
// because compressing did not make it smaller), the payload's length (u32 LE), the SHA-256 of
// flag, length and payload, then the payload. An entry that fails any check is removed and the
// block compressed again: nothing unverified reaches an image. Entries appear by rename only when
// complete (from `<key>.tmp-<pid>-<random>`), so concurrent writers never see half of one;
// `gvmc prune` and the automatic collection remove them with the rest of the build cache, least
// recently used first (a hit updates the entry's modification time), and the temporary files of
// a writer that was killed (its pid is gone).
import CDigest
#if canImport(Glibc)
import Glibc
#endif

/// Sendable without checks: its stored properties are constants set in init; every method works
/// on the filesystem through its arguments (entries appear by rename, so threads share nothing
/// in memory).
final class BlockStore: @unchecked Sendable {
    let directory: String
    private let fingerprint: [UInt8]
    private static let magic = Array("GVMCBLK1".utf8)
    private static let headerSize = 8 + 1 + 4 + 32
    /// Bump when the writer's block output could change for the same input and settings.
    static let writerVersion = "gvmc squashfs blocks 2"

    enum Entry {
        /// The compressed bytes (owned by the caller) and their size.
        case compressed(UnsafeMutableRawBufferPointer, Int)
        /// The block is stored uncompressed.
        case stored
    }

    /// Nil when the directory cannot be made (the image is then written without the store).
    /// False: entries are only written.
    let reads: Bool

    init?(directory: String, compression: CompressionOptions, blockSize: Int, reads: Bool = true) {
        guard makeDirectories(directory) else { return nil }
        self.directory = directory
        self.reads = reads
        let settings =
            "\(Self.writerVersion)\0\(compression.algorithm.rawValue)\0\(compression.level.map(String.init) ?? "default")\0\(blockSize)"
        fingerprint = SHA256.hash(Array(settings.utf8))
    }

    func key(_ input: UnsafeRawBufferPointer) -> String {
        var h = SHA256()
        h.update(fingerprint)
        h.update(input)
        return h.finalize().hexString
    }

    /// The entry for `key`, verified; nil when absent or damaged (a damaged one is removed).
    func load(_ key: String, bound: Int) -> Entry? {
        guard reads else { return nil }
        let path = directory + "/" + key
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        guard readFully(fd, &header, count: Self.headerSize), Array(header[0..<8]) == Self.magic else { return discard(path) }
        let flag = header[8]
        let length = Int(header[9]) | Int(header[10]) << 8 | Int(header[11]) << 16 | Int(header[12]) << 24
        guard flag <= 1, length <= bound, flag == 1 || length == 0 else { return discard(path) }
        let payload = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bound, 1), alignment: 16)
        var ok = false
        defer { if !ok { payload.deallocate() } }
        guard length == 0 || readFully(fd, payload.baseAddress!, count: length) else { return discard(path) }
        var extra: UInt8 = 0
        guard read(fd, &extra, 1) == 0 else { return discard(path) }  // longer than it says
        var h = SHA256()
        h.update(Array(header[8..<13]))
        h.update(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(payload)[0..<length]))
        guard h.finalize() == Array(header[13..<45]) else { return discard(path) }
        futimens(fd, nil)  // last use, for the collection
        if flag == 0 { return .stored }
        ok = true
        return .compressed(payload, length)
    }

    /// Stores the block's result (nil: it is stored uncompressed). Best effort: a full disk or a
    /// read-only cache only costs the next write its compression.
    func save(_ key: String, compressed: UnsafeRawBufferPointer?) {
        let path = directory + "/" + key
        if access(path, F_OK) == 0 { return }
        let length = compressed?.count ?? 0
        var header = Self.magic + [compressed == nil ? 0 : 1]
        header += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24 & 0xFF)]
        var h = SHA256()
        h.update(Array(header[8..<13]))
        if let compressed { h.update(compressed) }
        header += h.finalize()
        let temp = path + ".tmp-\(getpid())-\(UInt64.random(in: 0...UInt64.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        var ok = header.withUnsafeBytes { writeFully(fd, $0) }
        if ok, let compressed { ok = writeFully(fd, compressed) }
        ok = close(fd) == 0 && ok
        if !ok || rename(temp, path) != 0 { unlink(temp) }
    }

    private func discard(_ path: String) -> Entry? {
        unlink(path)
        return nil
    }
}

private func readFully(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, count: Int) -> Bool {
    var done = 0
    while done < count {
        let n = read(fd, buffer + done, count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

private func readFully(_ fd: Int32, _ buffer: inout [UInt8], count: Int) -> Bool {
    buffer.withUnsafeMutableBytes { readFully(fd, $0.baseAddress!, count: count) }
}

private func writeFully(_ fd: Int32, _ data: UnsafeRawBufferPointer) -> Bool {
    var done = 0
    while done < data.count {
        let n = write(fd, data.baseAddress! + done, data.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

/// mkdir -p with private permissions for what it creates.
private func makeDirectories(_ path: String) -> Bool {
    var st = stat()
    if stat(path, &st) == 0 { return st.st_mode & S_IFMT == S_IFDIR }
    let parent = (path as String).split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
    if !parent.isEmpty && !makeDirectories(parent) { return false }
    return mkdir(path, 0o700) == 0 || errno == EEXIST
}
