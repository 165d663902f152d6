// The Golem registry's image descriptor, byte for byte as gvmkit-build writes it
// (gvmkit-build-rs src/chunks.rs): what a push announces before its chunks, and the id a push
// and a download are addressed by.
import Foundation
import GVMI
import SquashFS

/// Big-endian u64 magic, file size and chunk size; the SHA3-224 of the whole file (28 bytes);
/// one SHA-256 per chunk (32 bytes each, the last chunk short). Its id is the lowercase hex
/// SHA-256 of these bytes.
public struct ImageDescriptor: Sendable, Equatable {
    public static let magic: UInt64 = 0x0000_0003_3333_3334
    public var fileSize: UInt64
    public var chunkSize: UInt64
    /// SHA3-224 of the whole file: the hash requestors and providers name the image by.
    public var sha3: [UInt8]
    public var chunkHashes: [[UInt8]]

    public init(fileSize: UInt64, chunkSize: UInt64, sha3: [UInt8], chunkHashes: [[UInt8]]) {
        self.fileSize = fileSize
        self.chunkSize = chunkSize
        self.sha3 = sha3
        self.chunkHashes = chunkHashes
    }

    /// Parses descriptor bytes (a `FILE.gvmi.descr.bin`).
    public init(bytes: [UInt8]) throws(GolemRegistryError) {
        func u64(_ at: Int) -> UInt64 { bytes[at..<at + 8].reduce(0) { $0 << 8 | UInt64($1) } }
        guard bytes.count >= 52, u64(0) == Self.magic else { throw .invalidDescriptor("no descriptor magic") }
        fileSize = u64(8)
        chunkSize = u64(16)
        guard chunkSize > 0 else { throw .invalidDescriptor("chunk size 0") }
        let count = Int((fileSize + chunkSize - 1) / chunkSize)
        guard bytes.count == 52 + 32 * count else {
            throw .invalidDescriptor("\(bytes.count) bytes where \(52 + 32 * count) were expected")
        }
        sha3 = Array(bytes[24..<52])
        chunkHashes = (0..<count).map { Array(bytes[52 + 32 * $0..<84 + 32 * $0]) }
    }

    /// The descriptor the image writer's read-back computed (GVMIImageWriter.write with a
    /// chunk size); nil when it was written without one.
    public init?(_ result: GVMIResult) {
        guard let chunkSize = result.chunkSize, result.sha3_224.utf8.count == 56 else { return nil }
        let hex = Array(result.sha3_224.utf8)
        func nibble(_ c: UInt8) -> UInt8 { c <= 57 ? c - 48 : (c | 0x20) - 87 }
        self.init(
            fileSize: result.size, chunkSize: chunkSize,
            sha3: stride(from: 0, to: 56, by: 2).map { nibble(hex[$0]) << 4 | nibble(hex[$0 + 1]) },
            chunkHashes: result.chunkSHA256)
    }

    /// The descriptor a record of the image's hashes gives (nil when the record is malformed).
    public init?(_ record: ImageHashRecord) {
        guard let sha3 = record.sha3Digest, let chunks = record.chunkDigests else { return nil }
        self.init(fileSize: record.size, chunkSize: record.chunkSize, sha3: sha3, chunkHashes: chunks)
    }

    public var chunkCount: Int { chunkHashes.count }

    /// Where chunk `index` lies in the file.
    public func chunk(_ index: Int) -> (offset: UInt64, length: Int) {
        let offset = UInt64(index) * chunkSize
        return (offset, Int(min(chunkSize, fileSize - offset)))
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(52 + 32 * chunkHashes.count)
        for value in [Self.magic, fileSize, chunkSize] { withUnsafeBytes(of: value.bigEndian) { out.append(contentsOf: $0) } }
        out.append(contentsOf: sha3)
        for hash in chunkHashes { out.append(contentsOf: hash) }
        return out
    }

    /// The descriptor's id: hex SHA-256 of its bytes (gvmkit-build's JSON calls it "hash").
    public var id: String { bytes.withUnsafeBytes { SHA256.hash($0) }.hexString }

    /// The image hash as requestors write it.
    public var sha3Hex: String { sha3.hexString }

    /// gvmkit-build's chunk size for a file of `size` bytes (ChunkedSHA256.defaultChunkSize).
    public static func defaultChunkSize(fileSize size: UInt64) -> UInt64 { ChunkedSHA256.defaultChunkSize(fileSize: size) }
}
