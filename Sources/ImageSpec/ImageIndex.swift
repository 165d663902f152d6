// An image index: OCI's (application/vnd.oci.image.index.v1+json, also an image layout's
// index.json) and Docker's manifest list (application/vnd.docker.distribution.manifest.list.v2+json).

/// Manifests for several platforms, or the tagged manifests of an OCI image layout.
public struct ImageIndex: Codable, Sendable, Equatable {
    /// 2 for both formats (taken as 2 when absent).
    public var schemaVersion: Int
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    enum CodingKeys: String, CodingKey { case schemaVersion, mediaType, artifactType, manifests, subject, annotations }

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor] = [], annotations: [String: String]? = nil) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 2
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        manifests = try c.decode([Descriptor].self, forKey: .manifests)
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }
}
