// A `demand.json` as `gvmc manifest sign -o DIR` writes it: the four demand properties a requestor
// sends (Golem's names), each a string. Read through a Codable type: a property of another type
// is an error naming it.
import Foundation

/// The demand properties of a signed manifest.
struct DemandFile: Decodable {
    var payload: String?
    var signature: String?
    var algorithm: String?
    var certificate: String?

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
        static let payload = Key(stringValue: SignedManifest.payloadProperty)
        static let signature = Key(stringValue: SignedManifest.signatureProperty)
        static let algorithm = Key(stringValue: SignedManifest.algorithmProperty)
        static let certificate = Key(stringValue: SignedManifest.certificateProperty)
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Key.self)
        payload = try c.decodeIfPresent(String.self, forKey: .payload)
        signature = try c.decodeIfPresent(String.self, forKey: .signature)
        algorithm = try c.decodeIfPresent(String.self, forKey: .algorithm)
        certificate = try c.decodeIfPresent(String.self, forKey: .certificate)
    }

    /// Whether `bytes` are a JSON object with the payload property (else a manifest, or its base64).
    static func isDemand(_ bytes: [UInt8]) -> Bool {
        struct Shape: Decodable {
            var hasPayload: Bool
            init(from decoder: Decoder) throws { hasPayload = try decoder.container(keyedBy: Key.self).contains(.payload) }
        }
        return (try? JSONDecoder().decode(Shape.self, from: Data(bytes)))?.hasPayload == true
    }

    static func read(_ bytes: [UInt8], file: String) throws(ManifestError) -> DemandFile {
        do { return try JSONDecoder().decode(DemandFile.self, from: Data(bytes)) } catch {
            let key = ((error as? DecodingError).flatMap(\.codingPath)?.last?.stringValue) ?? "a property"
            throw .file(path: file, "\(key) is not a string")
        }
    }

    /// The manifest and signature the properties carry, decoded from base64.
    func bundle(file: String) throws(ManifestError) -> ManifestBundle {
        guard let payload, let manifest = Data(base64Encoded: payload) else {
            throw .file(path: file, "\(SignedManifest.payloadProperty) is not base64 text")
        }
        var b = ManifestBundle(manifest: Array(manifest), payload: payload)
        if let signature {
            guard let raw = Data(base64Encoded: signature) else {
                throw .file(path: file, "\(SignedManifest.signatureProperty) is not base64 text")
            }
            b.signature = Array(raw)
        }
        b.algorithm = algorithm
        if let certificate {
            guard let raw = Data(base64Encoded: certificate) else {
                throw .file(path: file, "\(SignedManifest.certificateProperty) is not base64 text")
            }
            b.certificate = Array(raw)
        }
        return b
    }
}

extension DecodingError {
    /// The path of the value the error is about.
    var codingPath: [CodingKey] {
        switch self {
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c): return c.codingPath
        case .keyNotFound(let key, let c): return c.codingPath + [key]
        @unknown default: return []
        }
    }
}
