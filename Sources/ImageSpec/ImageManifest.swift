// An image manifest: OCI's (application/vnd.oci.image.manifest.v1+json) and Docker's schema 2
// (application/vnd.docker.distribution.manifest.v2+json), which have the same shape.

/// An image's config blob and layers (OCI image manifest, Docker schema 2 manifest).
public struct ImageManifest: Codable, Sendable, Equatable {
    /// 2 for both formats (taken as 2 when absent).
    public var schemaVersion: Int
    public var mediaType: String?
    /// OCI 1.1 artifacts: what the manifest holds when it is not a runnable image.
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    /// OCI 1.1: the manifest this one refers to (signatures, attestations).
    public var subject: Descriptor?
    public var annotations: [String: String]?

    enum CodingKeys: String, CodingKey { case schemaVersion, mediaType, artifactType, config, layers, subject, annotations }

    public init(mediaType: String? = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor, layers: [Descriptor],
                annotations: [String: String]? = nil) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decodeIfPresent(Int.self, forKey: .schemaVersion) ?? 2
        mediaType = try c.decodeIfPresent(String.self, forKey: .mediaType)
        artifactType = try c.decodeIfPresent(String.self, forKey: .artifactType)
        config = try c.decode(Descriptor.self, forKey: .config)
        layers = try c.decode([Descriptor].self, forKey: .layers)
        subject = try c.decodeIfPresent(Descriptor.self, forKey: .subject)
        annotations = try c.decodeIfPresent([String: String].self, forKey: .annotations)
    }
}
