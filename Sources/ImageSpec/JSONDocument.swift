// Reading and writing the JSON documents of the image formats (and of gvmc's other JSON files):
// decoding is strict about types, tolerant of fields the type does not know; errors name the
// document and the field.
import Foundation

/// Decodes and encodes JSON documents with the rules every gvmc reader follows.
public enum JSONDocument {
    /// Decodes `bytes` as `T`. A field of the wrong type, or a missing required one, is an error
    /// naming `document` and the field's JSON path; fields `T` does not declare are ignored.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], document: String) throws(ImageSpecError) -> T {
        do { return try JSONDecoder().decode(T.self, from: Data(bytes)) } catch {
            throw ImageSpecError(document: document, decoding: error)
        }
    }

    /// The JSON of `value`; by default compact, keys sorted, `/` unescaped: the form of the
    /// documents gvmc makes (a new manifest's digest is of these bytes; documents read from
    /// elsewhere are kept as they were read, see `Verbatim`). Files with a fixed format of their
    /// own pass theirs.
    public static func encode<T: Encodable>(
        _ value: T,
        formatting: JSONEncoder.OutputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    ) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = formatting
        // JSONEncoder fails only on non-finite floating-point numbers, which no document gvmc
        // writes holds.
        return Array((try? encoder.encode(value)) ?? Data())
    }
}

extension JSONDocument {
    /// The JSON of `value` with the key order of the files gvmc wrote with JSONSerialization
    /// (metadata files, the credentials file): digit runs compared as numbers, case ignored, so
    /// `sha3_224` comes before `sha256` and `80/tcp` before `443/tcp`. JSONEncoder's
    /// `.sortedKeys` compares code points and would reorder such keys; files whose bytes must stay
    /// as they were are written through this (the value is encoded, then ordered by Foundation).
    public static func encodeInFoundationKeyOrder<T: Encodable>(_ value: T, options: JSONSerialization.WritingOptions) -> [UInt8] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(encode(value, formatting: [])), options: [.fragmentsAllowed]),
            let data = try? JSONSerialization.data(withJSONObject: object, options: options.union([.sortedKeys, .fragmentsAllowed]))
        else {
            return []
        }
        return Array(data)
    }
}

/// A document as it was read, with what it decodes to. The bytes are what a digest is computed
/// over: gvmc never re-encodes a manifest or config whose digest matters, it keeps these.
public struct Verbatim<Value: Sendable>: Sendable {
    /// The document's bytes, exactly as read.
    public let bytes: [UInt8]
    /// The decoded document, for reading.
    public let value: Value

    public init(bytes: [UInt8], value: Value) {
        self.bytes = bytes
        self.value = value
    }
}

extension Verbatim where Value: Decodable {
    /// Decodes `bytes`, keeping them.
    public init(decoding bytes: [UInt8], document: String) throws(ImageSpecError) {
        self.init(bytes: bytes, value: try JSONDocument.decode(Value.self, from: bytes, document: document))
    }
}
