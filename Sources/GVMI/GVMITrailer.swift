// The Golem metadata trailer that follows the squashfs image in a .gvmi file:
// CRC-32 (IEEE, little-endian) of the JSON, the JSON, then its length as exactly 8 ASCII digits.
// (Golem's runtime reads it from the end of the file: ya-runtime-vm runtime/src/deploy.rs.)
import CZlib

/// Encodes and decodes the metadata trailer that follows the squashfs in a .gvmi.
public enum GVMITrailer {
    /// The trailer bytes for a ContainerConfig JSON document.
    public static func encode(json: [UInt8]) throws(GVMIError) -> [UInt8] {
        guard json.count <= 99_999_999 else { throw .metadataTooLarge(json.count) }
        var out: [UInt8] = []
        out.reserveCapacity(json.count + 12)
        let crc = crc32IEEE(json)
        for shift in stride(from: 0, to: 32, by: 8) { out.append(UInt8(truncatingIfNeeded: crc >> UInt32(shift))) }
        out.append(contentsOf: json)
        out.append(contentsOf: Array(String(json.count).leftPadded(to: 8).utf8))
        return out
    }

    /// Reads the trailer at the end of `file` the way the runtime does; returns the JSON bytes and
    /// the offset where the trailer begins.
    public static func decode(fileTail: [UInt8], fileSize: Int) throws(GVMIError) -> (json: [UInt8], trailerOffset: Int) {
        guard fileTail.count >= 12 else { throw .truncated(fileSize: fileSize) }
        let lengthBytes = fileTail.suffix(8)
        guard lengthBytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let length = Int(String(decoding: lengthBytes, as: UTF8.self))
        else {
            throw .badLength(offset: fileSize - 8, text: String(decoding: lengthBytes, as: UTF8.self))
        }
        guard length + 12 <= fileTail.count else {
            throw .lengthBeyondFile(length: length, fileSize: fileSize)
        }
        let jsonStart = fileTail.count - 8 - length
        let json = Array(fileTail[jsonStart..<(fileTail.count - 8)])
        let crcStart = jsonStart - 4
        var stored: UInt32 = 0
        for i in 0..<4 { stored |= UInt32(fileTail[crcStart + i]) << UInt32(8 * i) }
        let actual = crc32IEEE(json)
        let offsetInFile = fileSize - fileTail.count
        guard stored == actual else {
            throw .crcMismatch(offset: offsetInFile + crcStart, stored: stored, computed: actual)
        }
        return (json, offsetInFile + crcStart)
    }

    /// CRC-32 (IEEE 802.3), zlib's implementation.
    public static func crc32IEEE(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBufferPointer { buf in
            UInt32(crc32(0, buf.baseAddress, uInt(buf.count)))
        }
    }
}

/// Errors reading or writing a .gvmi, each naming the check that failed and where.
public enum GVMIError: Error, Sendable, Equatable, CustomStringConvertible {
    case metadataTooLarge(Int)
    case truncated(fileSize: Int)
    case badLength(offset: Int, text: String)
    case lengthBeyondFile(length: Int, fileSize: Int)
    case crcMismatch(offset: Int, stored: UInt32, computed: UInt32)
    case badMetadata(String)

    public var description: String {
        switch self {
        case .metadataTooLarge(let n): return "metadata JSON is \(n) bytes; the trailer allows at most 99999999"
        case .truncated(let size): return "file of \(size) bytes is too short to hold a gvmi trailer"
        case .badLength(let offset, let text): return "trailer length at offset \(offset) is not 8 decimal digits: \(text.debugDescription)"
        case .lengthBeyondFile(let length, let size): return "trailer claims \(length) bytes of JSON, but the file has only \(size) bytes"
        case .crcMismatch(let offset, let stored, let computed):
            return
                "metadata CRC-32 at offset \(offset) is \(String(stored, radix: 16)), but the JSON hashes to \(String(computed, radix: 16))"
        case .badMetadata(let m): return "metadata JSON: \(m)"
        }
    }
}

extension String {
    func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
