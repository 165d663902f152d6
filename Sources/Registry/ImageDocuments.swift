// How Registry reads ImageSpec's documents: a manifest as an index or an image manifest, an
// image config kept as its bytes (their digest is the image id) with what they decode to, and
// errors that name the image and the field; a platform from `--platform` text.
import ImageSpec

extension Platform {
    /// `os/arch[/variant]`, as `--platform` takes it.
    public init(_ text: String) throws(RegistryError) {
        guard let p = Platform(parsing: text) else {
            throw RegistryError("invalid platform \"\(text)\": expected os/arch[/variant], e.g. linux/amd64")
        }
        self = p
    }
}

extension ImagePuller {
    /// A manifest or index as what it is; a document that is not one (often an HTML error page
    /// from a proxy) is described briefly, with the field that is wrong.
    func manifest(_ bytes: [UInt8], type: String?, source: String) throws(RegistryError) -> ManifestDocument {
        do { return try ManifestDocument(decoding: bytes, declaredType: type, document: source) } catch {
            throw malformed(bytes, error, source: source)
        }
    }

    /// An OCI image layout's index.json.
    func layoutIndex(_ bytes: [UInt8], source: String) throws(RegistryError) -> ImageIndex {
        do { return try JSONDocument.decode(ImageIndex.self, from: bytes, document: source) } catch {
            throw malformed(bytes, error, source: source)
        }
    }

    private func malformed(_ bytes: [UInt8], _ error: ImageSpecError, source: String) -> RegistryError {
        let head = String(decoding: bytes.prefix(64), as: UTF8.self).split(whereSeparator: \.isNewline).joined(separator: " ")
        return RegistryError(.malformed(source: source, size: bytes.count, head: head, cause: error))
    }

    /// Reads and decodes an image's config blob, keeping its bytes; a failure (a descriptor that
    /// lies about the size, a blob that is not a config) names the image and the config's digest.
    func imageConfig(_ d: Descriptor, of source: String, read: () throws -> [UInt8]) throws -> Verbatim<ImageConfiguration> {
        let bytes: [UInt8]
        do { bytes = try read() } catch let e as RegistryError {
            throw e.message.hasPrefix(source) ? e : RegistryError("\(source): config \(d.digest)", cause: e)
        }
        do { return try Verbatim(decoding: bytes, document: "\(source): config \(d.digest)") } catch {
            throw RegistryError(nil, cause: error)
        }
    }
}
