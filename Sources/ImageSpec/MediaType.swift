// The media types of OCI and Docker image documents and layers, and which of them gvmc reads.

/// Media types of manifests, indexes, configs and layers.
public enum MediaType {
    public static let ociManifest = "application/vnd.oci.image.manifest.v1+json"
    public static let ociIndex = "application/vnd.oci.image.index.v1+json"
    public static let ociConfig = "application/vnd.oci.image.config.v1+json"
    public static let dockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
    public static let dockerList = "application/vnd.docker.distribution.manifest.list.v2+json"
    public static let dockerConfig = "application/vnd.docker.container.image.v1+json"
    public static let dockerSchema1 = "application/vnd.docker.distribution.manifest.v1+json"
    public static let dockerSchema1Signed = "application/vnd.docker.distribution.manifest.v1+prettyjws"
    /// The manifest and index types gvmc pulls (what it sends in `Accept`).
    public static let accepted = [ociManifest, ociIndex, dockerManifest, dockerList]

    /// Whether `type` is an index (OCI) or a manifest list (Docker).
    public static func isIndex(_ type: String) -> Bool { type == ociIndex || type == dockerList }

    /// Layer media types gvmc applies, and whether they are "foreign" (non-distributable).
    public static func layerKind(_ type: String) -> (supported: Bool, foreign: Bool) {
        switch type {
        case "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
            "application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.docker.image.rootfs.diff.tar.gzip",
            "application/vnd.docker.image.rootfs.diff.tar", "application/vnd.docker.image.rootfs.diff.tar.zstd":
            return (true, false)
        case "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar", "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
            "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd":
            return (true, true)
        default:
            return (false, false)
        }
    }
}
