// What `--metadata-file` (docker buildx's flag) writes for the commands that make or push an
// image: the image, the configuration in its trailer, a build's steps, a conversion's source and
// a push. Pretty JSON, keys sorted as Foundation sorts them, `/` unescaped, a final newline: the
// bytes gvmc always wrote.
import GVMI
import ImageSpec
import Progress
import Registry

/// A `--metadata-file`'s object.
public struct ImageMetadata: Encodable {
    /// The image written (or pushed: path, size and sha3-224 only).
    public struct Image: Encodable, Sendable {
        public var path: String
        public var size: UInt64
        public var sha3_224: String
        public var sha256: String?
        public var compression: String?

        public init(path: String, size: UInt64, sha3_224: String, sha256: String? = nil, compression: String? = nil) {
            self.path = path; self.size = size; self.sha3_224 = sha3_224; self.sha256 = sha256; self.compression = compression
        }

        public init(_ result: GVMIResult) {
            self.init(
                path: result.path, size: result.size, sha3_224: result.sha3_224, sha256: result.sha256,
                compression: result.compression.rawValue)
        }
    }

    /// A build step: its vertex, cache key, whether it was cached (and from where), its duration
    /// in seconds (to the millisecond), its error.
    public struct Step: Encodable, Sendable {
        public var vertex: Int
        public var name: String
        public var cached: Bool
        public var duration: Double
        public var key: String?
        public var cachedFrom: String?
        public var error: String?

        public init(
            vertex: Int, name: String, cached: Bool, duration: Double, key: String? = nil, cachedFrom: String? = nil,
            error: String? = nil
        ) {
            self.vertex = vertex; self.name = name; self.cached = cached; self.duration = duration
            self.key = key; self.cachedFrom = cachedFrom; self.error = error
        }

        public init(_ v: VertexRecord) {
            self.init(
                vertex: v.number, name: v.name, cached: v.cached, duration: (v.duration * 1000).rounded() / 1000,
                key: v.key, cachedFrom: v.cachedFrom, error: v.error)
        }
    }

    /// What a conversion was made from.
    public struct Source: Encodable, Sendable {
        public var reference: String
        public var manifestDigest: String
        public var imageID: String

        enum CodingKeys: String, CodingKey {
            case reference
            case manifestDigest = "manifest_digest", imageID = "image_id"
        }

        public init(_ pulled: PulledImage) {
            reference = pulled.source; manifestDigest = pulled.manifestDigest; imageID = pulled.configDigest
        }
    }

    public var image: Image
    /// The configuration in the image's trailer.
    public var config: ContainerConfig?
    public var steps: [Step]?
    public var source: Source?
    /// The push's object, from the module that pushed (GolemRegistry's PushMetadata).
    public var push: (any Encodable & Sendable)?

    public init(image: Image, config: ContainerConfig? = nil, steps: [Step]? = nil, source: Source? = nil) {
        self.image = image; self.config = config; self.steps = steps; self.source = source
    }

    enum CodingKeys: String, CodingKey { case image, config, steps, source, push }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(image, forKey: .image)
        try c.encodeIfPresent(config, forKey: .config)
        try c.encodeIfPresent(steps, forKey: .steps)
        try c.encodeIfPresent(source, forKey: .source)
        if let push { try c.encode(push, forKey: .push) }
    }

    /// The file's bytes: pretty, keys in Foundation's order, `/` unescaped, a final newline.
    public func fileBytes() -> [UInt8] {
        JSONDocument.encodeInFoundationKeyOrder(self, options: [.prettyPrinted, .withoutEscapingSlashes]) + [0x0A]
    }
}

extension ImageBuild {
    /// `--metadata-file`: the image (path, size, hashes, compression), the configuration in its
    /// trailer, and every step with its cache key, whether it was cached, and its duration.
    public func metadata(_ result: GVMIResult) -> ImageMetadata {
        ImageMetadata(image: .init(result), config: containerConfig, steps: (progress?.records ?? []).map(ImageMetadata.Step.init))
    }
}

extension ConversionResult {
    /// `--metadata-file`: the image, the configuration in its trailer, and the source.
    public func metadata() -> ImageMetadata {
        ImageMetadata(image: .init(image), config: config, source: .init(pulled))
    }
}
