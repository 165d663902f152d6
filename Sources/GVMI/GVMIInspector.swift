// Checking a .gvmi the way Golem's runtime reads it: the 8-digit length at the very end, the
// CRC-32 before the JSON, the JSON as a ContainerConfig, then the squashfs superblock in front.
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

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

public enum GVMIInspector {
    public static func inspect(path: String) throws -> GVMIReport {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw SquashFSError.io(path: path, operation: "open", errno: errno) }
        defer { close(fd) }
        var st = stat()
        fstat(fd, &st)
        let size = UInt64(st.st_size)
        // The trailer: at most 4 + 99999999 + 8 bytes, usually a few hundred.
        let tailLength = Int(min(size, 4 + 99_999_999 + 8))
        var tail = [UInt8](repeating: 0, count: tailLength)
        let got = tail.withUnsafeMutableBytes { pread(fd, $0.baseAddress, tailLength, off_t(size) - off_t(tailLength)) }
        guard got == tailLength else { throw SquashFSError.io(path: path, operation: "read", errno: errno) }
        let (json, trailerOffset) = try GVMITrailer.decode(fileTail: tail, fileSize: Int(size))
        let config = try ContainerConfig(json: json)
        var header = [UInt8](repeating: 0, count: 96)
        _ = header.withUnsafeMutableBytes { pread(fd, $0.baseAddress, 96, 0) }
        let superblock = try Superblock(header, fileSize: UInt64(trailerOffset))
        // Hashes over the whole file, trailer included (Golem's image id).
        var sha3 = SHA3_224()
        var sha256 = SHA256()
        var buffer = [UInt8](repeating: 0, count: 4 << 20)
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
        return GVMIReport(path: path, size: size, sha3_224: sha3.finalize().hexString, sha256: sha256.finalize().hexString,
                          config: config, configJSON: json, trailerOffset: UInt64(trailerOffset), superblock: superblock)
    }
}
