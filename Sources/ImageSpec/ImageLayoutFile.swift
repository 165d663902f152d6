// An OCI image layout's `oci-layout` file (the layout's `index.json` is an ImageIndex).

/// An OCI image layout's `oci-layout` file.
public struct ImageLayoutFile: Codable, Sendable, Equatable {
    public var imageLayoutVersion: String

    public init(imageLayoutVersion: String = "1.0.0") { self.imageLayoutVersion = imageLayoutVersion }
}
