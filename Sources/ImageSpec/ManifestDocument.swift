// What a manifest a registry or layout sent is: an index to pick a platform's manifest from, an
// image manifest, or something else (a schema 1 manifest, an artifact of another shape), told by
// its media type and its fields before it is decoded whole.

/// A manifest document, decoded as what it is.
public enum ManifestDocument: Sendable {
    case index(ImageIndex)
    case image(ImageManifest)
    /// Neither an index nor a manifest with `config` and `layers`.
    case other(mediaType: String?)

    /// Reads `bytes`. It is an index when `declaredType` (the registry's Content-Type, or the
    /// document's own mediaType) says so or when it has `manifests` and no `layers`; an image
    /// manifest when it has `config` and `layers`. Either is then decoded strictly.
    public init(decoding bytes: [UInt8], declaredType: String?, document: String) throws(ImageSpecError) {
        let shape = try JSONDocument.decode(Shape.self, from: bytes, document: document)
        let type = shape.mediaType ?? declaredType
        if type.map(MediaType.isIndex) == true || (shape.hasManifests && !shape.hasLayers) {
            self = .index(try JSONDocument.decode(ImageIndex.self, from: bytes, document: document))
        } else if shape.hasConfig && shape.hasLayers {
            self = .image(try JSONDocument.decode(ImageManifest.self, from: bytes, document: document))
        } else {
            self = .other(mediaType: type)
        }
    }

    /// The `mediaType` a manifest names itself with, if it is a JSON object that has one.
    public static func declaredMediaType(_ bytes: [UInt8]) -> String? {
        (try? JSONDocument.decode(Shape.self, from: bytes, document: ""))?.mediaType
    }

    /// The fields that tell the kinds apart.
    struct Shape: Decodable {
        var mediaType: String?
        var hasManifests: Bool
        var hasLayers: Bool
        var hasConfig: Bool

        enum CodingKeys: String, CodingKey { case mediaType, manifests, layers, config }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
            func present(_ key: CodingKeys) throws -> Bool { try c.contains(key) && !c.decodeNil(forKey: key) }
            hasManifests = try present(.manifests)
            hasLayers = try present(.layers)
            hasConfig = try present(.config)
        }
    }
}
