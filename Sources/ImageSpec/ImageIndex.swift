// An image index: OCI's (application/vnd.oci.image.index.v1+json, also an image layout's
// index.json) and Docker's manifest list (application/vnd.docker.distribution.manifest.list.v2+json).

/// Manifests for several platforms, or the tagged manifests of an OCI image layout.
public struct ImageIndex: Codable, Sendable, Equatable {
    /// 2 for both formats; absent in some documents gvmc reads, 2 in those it makes.
    public var schemaVersion: Int?
    public var mediaType: String?
    public var artifactType: String?
    public var manifests: [Descriptor]
    public var subject: Descriptor?
    public var annotations: [String: String]?

    public init(mediaType: String? = MediaType.ociIndex, manifests: [Descriptor] = [], annotations: [String: String]? = nil) {
        schemaVersion = 2
        self.mediaType = mediaType
        self.manifests = manifests
        self.annotations = annotations
    }
}
