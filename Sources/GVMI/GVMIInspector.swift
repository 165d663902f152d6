// Checking a .gvmi the way Golem's runtime reads it: the 8-digit length at the very end, the
// CRC-32 before the JSON, the JSON as a ContainerConfig, then the squashfs superblock in front.
import ImageSpec
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// What inspecting a .gvmi found: its size, hashes, configuration and squashfs superblock.
public struct GVMIReport: Sendable {
    public var path: String
    public var size: UInt64
    public var sha3_224: String
    public var sha256: String
    public var config: ContainerConfig
    public var configJSON: [UInt8]
    public var trailerOffset: UInt64
    public var superblock: Superblock
}

/// Checks a .gvmi the way Golem's runtime reads it and hashes it.
public enum GVMIInspector {
    /// Checks the .gvmi at `path` (a regular file only: a FIFO or device is refused unopened)
    /// and hashes it. Errors name the failed check and its offset.
    public static func inspect(path: String) throws -> GVMIReport {
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        let m = try metadata(fd: fd, size: size, path: path)
        // Hashes over the whole file, trailer included (Golem's image id).
        var sha3 = SHA3_224()
        var sha256 = SHA256()
        // At most 4 MiB at a time, and no more than the file holds (inspecting small images stays cheap).
        var buffer = [UInt8](repeating: 0, count: Int(min(size, 4 << 20)) + 1)
        var offset: off_t = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            guard n >= 0 else { throw SquashFSError.io(path: path, operation: "read", errno: errno) }
            if n == 0 { break }
            buffer.withUnsafeBytes { b in
                let part = UnsafeRawBufferPointer(rebasing: b[0..<n])
                sha3.update(part); sha256.update(part)
            }
            offset += off_t(n)
        }
        return GVMIReport(
            path: path, size: size, sha3_224: sha3.finalize().hexString, sha256: sha256.finalize().hexString,
            config: m.config, configJSON: m.json, trailerOffset: m.trailerOffset, superblock: m.superblock)
    }

    /// The checks of `inspect` without hashing the file: the trailer's length and CRC, its JSON
    /// as a ContainerConfig, the squashfs superblock in front (before an upload, say).
    public static func check(path: String) throws -> (config: ContainerConfig, superblock: Superblock) {
        let m = try metadata(path: path)
        return (m.config, m.superblock)
    }

    /// The trailer and superblock of the .gvmi at `path`, checked as `inspect` checks them but
    /// without hashing the file (what `gvmc run` needs before it starts the image).
    public static func metadata(path: String) throws -> GVMIMetadata {
        let (fd, size) = try RegularFile.open(path)
        defer { close(fd) }
        return try metadata(fd: fd, size: size, path: path)
    }

    static func metadata(fd: Int32, size: UInt64, path: String) throws -> GVMIMetadata {
        func read(_ count: Int, at offset: UInt64) throws -> [UInt8] {
            let out = try RegularFile.read(fd, path: path, count: count, at: offset)
            guard out.count == count else { throw GVMIError.truncated(fileSize: Int(size)) }
            return out
        }
        // The trailer's last 8 bytes give its length; read only as much as that claims (at most
        // 4 + 99999999 + 8 bytes), not a fixed 100 MB tail.
        let last = try read(Int(min(size, 8)), at: size - min(size, 8))
        var tailLength = min(size, 12)
        if last.count == 8, last.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let length = UInt64(String(decoding: last, as: UTF8.self)) {
            tailLength = min(size, length + 12)
        }
        let tail = try read(Int(tailLength), at: size - tailLength)
        let (json, trailerOffset) = try GVMITrailer.decode(fileTail: tail, fileSize: Int(size))
        let config: ContainerConfig
        do { config = try ContainerConfig(json: json, document: "metadata JSON") } catch { throw GVMIError.badMetadata(error.reason) }
        guard trailerOffset >= 96 else {
            throw SquashFSError.corrupt(
                offset: 0, reason: "the trailer starts at \(trailerOffset), leaving no room for a superblock (96 bytes)")
        }
        let superblock = try Superblock(try read(96, at: 0), fileSize: UInt64(trailerOffset))
        return GVMIMetadata(size: size, config: config, json: json, trailerOffset: UInt64(trailerOffset), superblock: superblock)
    }
}

/// What a .gvmi says about itself: its container configuration and where the squashfs ends.
public struct GVMIMetadata: Sendable {
    public var size: UInt64
    public var config: ContainerConfig
    public var json: [UInt8]
    /// Where the trailer starts: the squashfs image is the bytes before it.
    public var trailerOffset: UInt64
    public var superblock: Superblock
}
