// An image manifest: OCI's (application/vnd.oci.image.manifest.v1+json) and Docker's schema 2
// (application/vnd.docker.distribution.manifest.v2+json), which have the same shape.

/// An image's config blob and layers (OCI image manifest, Docker schema 2 manifest).
public struct ImageManifest: Codable, Sendable, Equatable {
    /// 2 for both formats; absent in some documents gvmc reads, 2 in those it makes.
    public var schemaVersion: Int?
    public var mediaType: String?
    /// OCI 1.1 artifacts: what the manifest holds when it is not a runnable image.
    public var artifactType: String?
    public var config: Descriptor
    public var layers: [Descriptor]
    /// OCI 1.1: the manifest this one refers to (signatures, attestations).
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(
        mediaType: String? = MediaType.ociManifest, artifactType: String? = nil, config: Descriptor, layers: [Descriptor],
        annotations: [String: String]? = nil
    ) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.artifactType = artifactType
        self.config = config
        self.layers = layers
        self.annotations = annotations
    }
}
