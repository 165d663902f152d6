// The Golem trailer: CRC-32 LE + JSON + 8-digit length, read back the way ya-runtime-vm reads it.
import Testing
@testable import GVMI

@Suite struct GVMITrailerFormat {
    let json = Array(#"{"Env":["PATH=/bin"],"Volumes":{"/golem/output":{}}}"#.utf8)

    @Test func layoutIsCrcThenJsonThenEightDigitLength() throws {
        let trailer = try GVMITrailer.encode(json: json)
        #expect(trailer.count == 4 + json.count + 8)
        #expect(Array(trailer[4..<(4 + json.count)]) == json)
        #expect(String(decoding: trailer.suffix(8), as: UTF8.self) == String(format8(json.count)))
        // CRC-32 of "123456789" is the standard check value 0xCBF43926.
        #expect(GVMITrailer.crc32IEEE(Array("123456789".utf8)) == 0xCBF4_3926)
        let crc = GVMITrailer.crc32IEEE(json)
        #expect(Array(trailer[0..<4]) == [UInt8(crc & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc >> 16 & 0xFF), UInt8(crc >> 24)])
    }

    func format8(_ n: Int) -> String { String(repeating: "0", count: 8 - String(n).count) + String(n) }

    @Test func decodingFindsTheJsonBehindAnImage() throws {
        let image = [UInt8](repeating: 0xAB, count: 4096)
        let file = image + (try GVMITrailer.encode(json: json))
        let (decoded, offset) = try GVMITrailer.decode(fileTail: file, fileSize: file.count)
        #expect(decoded == json)
        #expect(offset == 4096)
    }

    @Test func corruptTrailersAreRejectedWithTheFailedCheck() throws {
        var file = [UInt8](repeating: 0, count: 100) + (try GVMITrailer.encode(json: json))
        var flipped = file
        flipped[104] ^= 0x01  // a JSON byte
        #expect(throws: GVMIError.self) { try GVMITrailer.decode(fileTail: flipped, fileSize: flipped.count) }
        do {
            _ = try GVMITrailer.decode(fileTail: flipped, fileSize: flipped.count)
        } catch {
            guard case .crcMismatch(let offset, _, _) = error else { Issue.record("wrong error \(error)"); return }
            #expect(offset == 100)
        }
        file[file.count - 3] = UInt8(ascii: "x")
        #expect(throws: GVMIError.badLength(offset: file.count - 8, text: String(decoding: file.suffix(8), as: UTF8.self))) {
            try GVMITrailer.decode(fileTail: file, fileSize: file.count)
        }
        #expect(throws: GVMIError.self) { try GVMITrailer.decode(fileTail: Array("99999999".utf8), fileSize: 8) }
    }
}
