// The platform an image is for (OCI image index's `platform`, the image config's own fields).

/// An image's operating system and architecture (OCI's `platform` object).
public struct Platform: Codable, Sendable, Equatable, Hashable, CustomStringConvertible {
    public var architecture: String
    public var os: String
    public var variant: String?
    /// `os.version` (Windows images name their build).
    public var osVersion: String?
    /// `os.features`.
    public var osFeatures: [String]?
    /// `features` (reserved by the OCI spec; Docker wrote it for a while).
    public var features: [String]?

    enum CodingKeys: String, CodingKey {
        case architecture, os, variant, features
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(architecture: String, os: String, variant: String? = nil) {
        self.architecture = architecture; self.os = os; self.variant = variant
    }

    /// `os/arch[/variant]`, as `--platform` takes it (`x86_64` is `amd64`, `aarch64` is `arm64`);
    /// nil when the text has another form.
    public init?(parsing text: String) {
        let parts = text.split(separator: "/").map(String.init)
        guard parts.count == 2 || parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else { return nil }
        os = parts[0]
        architecture = parts[1] == "x86_64" ? "amd64" : (parts[1] == "aarch64" ? "arm64" : parts[1])
        variant = parts.count == 3 ? parts[2] : nil
    }

    /// `os/arch[/variant]`.
    public var description: String { [os, architecture, variant].compactMap { $0 }.joined(separator: "/") }

    /// Whether an image for this platform serves `wanted`: the same os and architecture, and
    /// the variant `wanted` names if it names one (arm64 without a variant is v8).
    public func matches(_ wanted: Platform) -> Bool {
        guard os == wanted.os, architecture == wanted.architecture else { return false }
        guard let v = wanted.variant else { return true }
        return (variant ?? (architecture == "arm64" ? "v8" : "")) == v
    }
}
