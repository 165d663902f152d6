// SHA-256 (FIPS 180-4) over the C implementation in CDigest. The writer keys file
// deduplication on it; `gvmc inspect` prints it.
import CDigest

/// An incremental SHA-256 hash.
public struct SHA256: Sendable {
    private var context = gvmc_sha256_ctx()

    public init() { gvmc_sha256_init(&context) }

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        gvmc_sha256_update(&context, base, data.count)
    }

    public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) { return done }
        Array(bytes).withUnsafeBytes { update($0) }
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        gvmc_sha256_final(&context, &out)
        return out
    }

    public static func hash<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var s = SHA256(); s.update(bytes); return s.finalize()
    }

    public static func hash(_ data: UnsafeRawBufferPointer) -> [UInt8] {
        var s = SHA256(); s.update(data); return s.finalize()
    }

    /// Whether the CPU's SHA extensions are used.
    public static var isAccelerated: Bool { gvmc_sha256_accelerated() != 0 }
}

extension Array where Element == UInt8 {
    /// Lowercase hexadecimal.
    public var hexString: String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(count * 2)
        for b in self { out.append(digits[Int(b >> 4)]); out.append(digits[Int(b & 15)]) }
        return String(decoding: out, as: UTF8.self)
    }
}
