// SHA3-224 (FIPS 202): Golem identifies a task package by the SHA3-224 of the whole .gvmi.

public struct SHA3_224: Sendable {
    private var state = [UInt64](repeating: 0, count: 25)
    private var buffer = [UInt8](repeating: 0, count: 144)
    private var buffered = 0
    private static let rate = 144  // (1600 - 2*224) / 8

    public init() {}

    private static let roundConstants: [UInt64] = [
        0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
        0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
        0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
        0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
        0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
        0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
    ]
    private static let rotations: [UInt64] = [
        0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
    ]

    public mutating func update(_ data: UnsafeRawBufferPointer) {
        guard let base = data.baseAddress else { return }
        var i = 0
        let n = data.count
        if buffered > 0 {
            let take = min(Self.rate - buffered, n)
            for k in 0..<take { buffer[buffered + k] = base.load(fromByteOffset: k, as: UInt8.self) }
            buffered += take; i = take
            if buffered == Self.rate {
                buffer.withUnsafeBytes { absorb($0.baseAddress!) }
                buffered = 0
            }
        }
        while n - i >= Self.rate {
            absorb(base + i)
            i += Self.rate
        }
        for k in i..<n { buffer[buffered] = base.load(fromByteOffset: k, as: UInt8.self); buffered += 1 }
    }

    public mutating func update(_ bytes: [UInt8]) { bytes.withUnsafeBytes { update($0) } }

    public mutating func finalize() -> [UInt8] {
        for k in buffered..<Self.rate { buffer[k] = 0 }
        buffer[buffered] ^= 0x06
        buffer[Self.rate - 1] ^= 0x80
        buffer.withUnsafeBytes { absorb($0.baseAddress!) }
        var out: [UInt8] = []
        for lane in 0..<4 {
            for b in 0..<8 { out.append(UInt8(truncatingIfNeeded: state[lane] >> UInt64(8 * b))) }
        }
        return Array(out[0..<28])
    }

    private mutating func absorb(_ block: UnsafeRawPointer) {
        state.withUnsafeMutableBufferPointer { a in
            for i in 0..<(Self.rate / 8) {
                a[i] ^= UInt64(littleEndian: block.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self))
            }
            Self.keccak(a)
        }
    }

    private static func keccak(_ a: UnsafeMutableBufferPointer<UInt64>) {
        var c = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var b = [UInt64](repeating: 0, count: 25)
        for round in 0..<24 {
            c = (a[0] ^ a[5] ^ a[10] ^ a[15] ^ a[20], a[1] ^ a[6] ^ a[11] ^ a[16] ^ a[21],
                 a[2] ^ a[7] ^ a[12] ^ a[17] ^ a[22], a[3] ^ a[8] ^ a[13] ^ a[18] ^ a[23],
                 a[4] ^ a[9] ^ a[14] ^ a[19] ^ a[24])
            let cs = [c.0, c.1, c.2, c.3, c.4]
            for x in 0..<5 {
                let d = cs[(x + 4) % 5] ^ ((cs[(x + 1) % 5] << 1) | (cs[(x + 1) % 5] >> 63))
                for y in stride(from: 0, to: 25, by: 5) { a[y + x] ^= d }
            }
            for x in 0..<5 {
                for y in 0..<5 {
                    let r = rotations[x + 5 * y]
                    let v = a[x + 5 * y]
                    b[y + 5 * ((2 * x + 3 * y) % 5)] = r == 0 ? v : (v << r) | (v >> (64 - r))
                }
            }
            for y in stride(from: 0, to: 25, by: 5) {
                let t = (b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4])
                a[y] = t.0 ^ (~t.1 & t.2)
                a[y + 1] = t.1 ^ (~t.2 & t.3)
                a[y + 2] = t.2 ^ (~t.3 & t.4)
                a[y + 3] = t.3 ^ (~t.4 & t.0)
                a[y + 4] = t.4 ^ (~t.0 & t.1)
            }
            a[0] ^= roundConstants[round]
        }
    }
}
