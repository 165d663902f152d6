// Writing a complete .gvmi: squashfs image, then the metadata trailer, then hashes; all into a
// temporary file that replaces the target only when everything succeeded.
import SquashFS

public struct GVMIResult: Sendable {
    public var path: String
    public var size: UInt64
    /// Golem's image hash: SHA3-224 of the whole file.
    public var sha3_224: String
    public var sha256: String
    public var squashfs: SquashFSSummary
    public var compression: Compression
}

public enum GVMIImageWriter {
    /// Builds the image: `populate` adds the root filesystem's entries to the writer.
    public static func write(to path: String, options: SquashFSOptions, config: ContainerConfig,
                             populate: (SquashFSWriter) throws -> Void) throws -> GVMIResult {
        let output = try OutputFile(target: path)
        do {
            let writer = try SquashFSWriter(output: output, options: options)
            try populate(writer)
            let summary = try writer.finish()
            let trailer = try GVMITrailer.encode(json: config.jsonBytes())
            try output.write(trailer, at: summary.fileSize)
            let size = summary.fileSize + UInt64(trailer.count)
            let (sha3, sha256) = try hashes(output, size: size)
            try output.commit()
            return GVMIResult(path: path, size: size, sha3_224: sha3, sha256: sha256, squashfs: summary,
                              compression: options.compression.algorithm)
        } catch {
            output.discard()
            throw error
        }
    }

    /// SHA3-224 and SHA-256 of the file, read back in large chunks.
    static func hashes(_ output: OutputFile, size: UInt64) throws -> (String, String) {
        var sha3 = SHA3_224()
        var sha256 = SHA256()
        var offset: UInt64 = 0
        let chunk = 4 << 20
        while offset < size {
            let n = Int(min(UInt64(chunk), size - offset))
            let bytes = try output.read(at: offset, count: n)
            bytes.withUnsafeBytes { sha3.update($0); sha256.update($0) }
            offset += UInt64(n)
        }
        return (sha3.finalize().hexString, sha256.finalize().hexString)
    }
}
