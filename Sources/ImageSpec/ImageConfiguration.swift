// An image's configuration blob (OCI application/vnd.oci.image.config.v1+json, Docker's
// application/vnd.docker.container.image.v1+json): platform, the container configuration, the
// layers' uncompressed digests and the history. Docker's extra fields (container_config,
// docker_version, ...) are ignored.

/// An image configuration (the blob a manifest's `config` names; its digest is the image id).
public struct ImageConfiguration: Codable, Sendable, Equatable {
    /// RFC 3339 time, kept as text.
    public var created: String?
    public var author: String?
    public var architecture: String?
    public var os: String?
    /// `os.version`.
    public var osVersion: String?
    /// `os.features`.
    public var osFeatures: [String]?
    public var variant: String?
    /// The container configuration the image sets.
    public var config: ContainerConfig?
    public var rootfs: RootFS?
    public var history: [History]?

    enum CodingKeys: String, CodingKey {
        case created, author, architecture, os, variant, config, rootfs, history
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(architecture: String? = nil, os: String? = nil, config: ContainerConfig? = nil, rootfs: RootFS? = nil) {
        self.architecture = architecture
        self.os = os
        self.config = config
        self.rootfs = rootfs
    }

    /// The image's platform, when it names its os and architecture.
    public var platform: Platform? {
        guard let architecture, let os else { return nil }
        var p = Platform(architecture: architecture, os: os, variant: variant)
        p.osVersion = osVersion
        p.osFeatures = osFeatures
        return p
    }

    /// `rootfs.diff_ids`: the digests of the uncompressed layers, in order.
    public var diffIDs: [String] { rootfs?.diffIDs ?? [] }
}

/// The layers an image config describes (`rootfs`).
public struct RootFS: Codable, Sendable, Equatable {
    /// Always `layers`.
    public var type: String
    /// SHA-256 digests of the uncompressed layer tars.
    public var diffIDs: [String]

    enum CodingKeys: String, CodingKey {
        case type
        case diffIDs = "diff_ids"
    }

    public init(diffIDs: [String]) {
        type = "layers"
        self.diffIDs = diffIDs
    }
}

/// One step of an image's history.
public struct History: Codable, Sendable, Equatable {
    public var created: String?
    public var createdBy: String?
    public var author: String?
    public var comment: String?
    /// The step made no layer (ENV, CMD, ...).
    public var emptyLayer: Bool?

    enum CodingKeys: String, CodingKey {
        case created, author, comment
        case createdBy = "created_by"
        case emptyLayer = "empty_layer"
    }

    public init(created: String? = nil, createdBy: String? = nil, comment: String? = nil, emptyLayer: Bool? = nil) {
        self.created = created
        self.createdBy = createdBy
        self.comment = comment
        self.emptyLayer = emptyLayer
    }
}
