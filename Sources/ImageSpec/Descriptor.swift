// A content descriptor: what a manifest or index says about a blob it names.

/// A reference to a blob by digest and size (OCI content descriptor; Docker's are the same shape).
public struct Descriptor: Codable, Sendable, Equatable {
    /// Absent in some Docker documents; readers take their context's default.
    public var mediaType: String?
    public var digest: String
    public var size: Int64
    /// Where else the blob may be fetched (foreign layers).
    public var urls: [String]?
    public var annotations: [String: String]?
    /// The content itself, base64 (embedded small blobs).
    public var data: String?
    /// The type of an artifact the descriptor names (OCI 1.1).
    public var artifactType: String?
    /// In an index: the platform of the manifest named.
    public var platform: Platform?

    public init(
        mediaType: String?, digest: String, size: Int64, platform: Platform? = nil, urls: [String]? = nil,
        annotations: [String: String]? = nil
    ) {
        self.mediaType = mediaType; self.digest = digest; self.size = size
        self.platform = platform; self.urls = urls; self.annotations = annotations
    }

    /// The annotation OCI image layouts tag manifests with (`DIR:TAG`).
    public static let refNameAnnotation = "org.opencontainers.image.ref.name"
}
