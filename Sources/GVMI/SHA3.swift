// SHA3-224 (FIPS 202) over the C implementation in CDigest: Golem identifies a task package by
// the SHA3-224 of the whole .gvmi.
import CDigest

/// An incremental SHA3-224 hash (Golem's image hash).
public struct SHA3_224: Sendable {
    private var context = gvmc_sha3_224_ctx()

    public init() { gvmc_sha3_224_init(&context) }

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress, data.count > 0 else { return }
        gvmc_sha3_224_update(&context, base, data.count)
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    /// The context as bytes (its state after what was absorbed), to continue later in this
    /// build of gvmc.
    var state: [UInt8] { withUnsafeBytes(of: context) { Array($0) } }

    /// A context from `state`; nil when the bytes are not one.
    init?(state: [UInt8]) {
        guard state.count == MemoryLayout<gvmc_sha3_224_ctx>.size else { return nil }
        state.withUnsafeBytes { raw in withUnsafeMutableBytes(of: &context) { $0.copyMemory(from: raw) } }
        guard context.buffered < 144 else { return nil }
    }

    public mutating func finalize() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 28)
        gvmc_sha3_224_final(&context, &out)
        return out
    }
}
