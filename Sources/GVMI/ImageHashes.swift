// The hashes of images this machine wrote or hashed, kept in the cache directory (`hashes/`) by
// the identity of the file they describe, so that `gvmc push` of an image gvmc just built does
// not read it a second time to make its Golem registry descriptor (SHA3-224 of the file and the
// SHA-256 of each chunk). gvmkit-build hashes every image again before an upload.
//
// A record names its file by device and inode, and is trusted only while the file's size,
// modification time and change time are those recorded. The change time is set by the kernel
// on every write, truncation, chmod or rename and cannot be set back by a program, so a file
// changed in any way after it was recorded is hashed again. A record that does not parse, or
// whose hashes are malformed, is ignored.
//
// Records are one small file per image path (`hashes/<sha256 of the real path>`, so a rebuild
// to the same file replaces its record; written to a `.tmp-<pid>-` file and renamed);
// `gvmc prune` collects them with the build cache.
import Foundation
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// The hashes of one image file, with the file's identity (device, inode, size, times) when hashed.
public struct ImageHashRecord: Codable, Sendable, Equatable {
    public var device: UInt64
    public var inode: UInt64
    public var size: UInt64
    public var modified: Int64
    public var changed: Int64
    /// Golem's image hash, hex.
    public var sha3_224: String
    /// The Golem registry descriptor's chunk size and the SHA-256 of each chunk, hex.
    public var chunkSize: UInt64
    public var chunkSHA256: [String]

    /// The SHA-256s as bytes; nil when one is not 64 hex digits or their count does not fit the
    /// size and chunk size.
    public var chunkDigests: [[UInt8]]? {
        guard chunkSize > 0, UInt64(chunkSHA256.count) == (size + chunkSize - 1) / chunkSize else { return nil }
        var out: [[UInt8]] = []
        for hex in chunkSHA256 {
            guard let bytes = Self.bytes(hex, count: 32) else { return nil }
            out.append(bytes)
        }
        return out
    }

    /// The SHA3-224 as bytes (nil when malformed).
    public var sha3Digest: [UInt8]? { Self.bytes(sha3_224, count: 28) }

    static func bytes(_ hex: String, count: Int) -> [UInt8]? {
        let digits = Array(hex.utf8)
        guard digits.count == 2 * count else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            default: return nil
            }
        }
        var out: [UInt8] = []
        out.reserveCapacity(count)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let hi = nibble(digits[i]), let lo = nibble(digits[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
        }
        return out
    }
}

/// The image hash records kept in `<cache>/hashes`, keyed by file identity.
public struct ImageHashStore: Sendable {
    /// `<cache>/hashes`.
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// The record of the file at `path`, open as `fd`, when one exists and the file has not
    /// changed since.
    public func load(path: String, fd: Int32) -> ImageHashRecord? {
        var st = stat()
        guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, let entry = entryPath(path) else { return nil }
        let file = open(entry, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard file >= 0 else { return nil }
        defer { close(file) }
        var info = stat(), area = stat()
        // A record is at most 1000 chunks of 67 bytes and a little more (the registry's limit);
        // anything much larger is not one of ours. Only records this user wrote, in a directory
        // no one else can write, are believed (a `--cache-dir` may be a shared place).
        guard fstat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG, info.st_size < 1 << 20,
            info.st_uid == geteuid(), info.st_mode & 0o022 == 0,
            lstat(directory, &area) == 0, area.st_uid == geteuid(), area.st_mode & 0o022 == 0
        else { return nil }
        var data = [UInt8](repeating: 0, count: Int(info.st_size))
        guard data.withUnsafeMutableBytes({ read(file, $0.baseAddress, $0.count) }) == data.count,
            let record = try? JSONDecoder().decode(ImageHashRecord.self, from: Data(data)),
            record == Self.identity(st, record), record.sha3Digest != nil, record.chunkDigests != nil
        else { return nil }
        // Marks the record used for `gvmc prune`'s least-recently-used order.
        futimens(file, nil)
        return record
    }

    /// Records the hashes of the file at `path` (`device`/`inode`: the file that was hashed, so a
    /// file put at `path` since is not described). Best effort: the cache may be read-only.
    public func save(path: String, device: UInt64, inode: UInt64, sha3_224: String, chunkSize: UInt64, chunkSHA256: [[UInt8]]) {
        var st = stat()
        guard lstat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG, UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode else {
            return
        }
        save(path: path, Self.record(st, sha3_224: sha3_224, chunkSize: chunkSize, chunkSHA256: chunkSHA256))
    }

    /// The identity of the file open as `fd` (device, inode, size, mtime, ctime), to compare
    /// before and after it is hashed.
    public static func stamp(fd: Int32) -> [Int64]? {
        var st = stat()
        guard fstat(fd, &st) == 0 else { return nil }
        let r = identity(
            st, ImageHashRecord(device: 0, inode: 0, size: 0, modified: 0, changed: 0, sha3_224: "", chunkSize: 0, chunkSHA256: []))
        return [Int64(bitPattern: r.device), Int64(bitPattern: r.inode), Int64(bitPattern: r.size), r.modified, r.changed]
    }

    /// The same, for the file at `path` open as `fd`, hashed while its identity was `hashed`
    /// (`stamp` before the hashing): nothing is recorded when it changed in the meantime.
    public func save(path: String, fd: Int32, hashed: [Int64]?, sha3_224: String, chunkSize: UInt64, chunkSHA256: [[UInt8]]) {
        var st = stat()
        guard let hashed, Self.stamp(fd: fd) == hashed, fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return }
        save(path: path, Self.record(st, sha3_224: sha3_224, chunkSize: chunkSize, chunkSHA256: chunkSHA256))
    }

    /// The record of hashes computed over the file whose `stat` is `st`.
    static func record(_ st: stat, sha3_224: String, chunkSize: UInt64, chunkSHA256: [[UInt8]]) -> ImageHashRecord {
        identity(
            st,
            ImageHashRecord(
                device: 0, inode: 0, size: 0, modified: 0, changed: 0, sha3_224: sha3_224,
                chunkSize: chunkSize, chunkSHA256: chunkSHA256.map(\.hexString)))
    }

    func save(path: String, _ record: ImageHashRecord) {
        guard record.chunkDigests != nil, record.sha3Digest != nil, let entry = entryPath(path),
            makeDirectories(directory), let json = try? JSONEncoder().encode(record)
        else { return }
        let temp = entry + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return }
        let written = json.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        if written != json.count || rename(temp, entry) != 0 { unlink(temp) }
    }

    /// `hashes/<sha256 of the real path>`; nil when the path does not resolve.
    func entryPath(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        let bytes = Array(UnsafeRawBufferPointer(start: real, count: strlen(real)))
        return directory + "/" + SHA256.hash(bytes).hexString
    }

    /// `record` with the identity fields of `st`.
    static func identity(_ st: stat, _ record: ImageHashRecord) -> ImageHashRecord {
        var r = record
        r.device = UInt64(st.st_dev)
        r.inode = UInt64(st.st_ino)
        r.size = UInt64(st.st_size)
        r.modified = Int64(st.st_mtim.tv_sec) * 1_000_000_000 + Int64(st.st_mtim.tv_nsec)
        r.changed = Int64(st.st_ctim.tv_sec) * 1_000_000_000 + Int64(st.st_ctim.tv_nsec)
        return r
    }
}
