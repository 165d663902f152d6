// A shared step cache in a registry: one tag of a repository, through the OCI distribution API.
import ImageSpec
import Registry

/// A tag of a registry repository, through the OCI distribution API.
final class RegistryCacheStore: CacheStore {
    let label: String
    let repository: RegistryRepository
    /// Where exports go (a tag) and where imports read (the tag, or the digest a
    /// `--cache-from REF@sha256:...` pins).
    let tag: String
    let readReference: String

    init(_ reference: ImageReference, label: String, options: RegistryOptions) throws(CacheError) {
        self.label = label
        tag = reference.tag ?? "latest"
        readReference = reference.manifestReference
        do { repository = try RegistryRepository(reference, options: options) } catch {
            throw CacheError(.registry(label: label, cause: error))
        }
    }

    func manifest() throws(CacheError) -> [UInt8]? {
        do { return try repository.manifestIfPresent(readReference)?.bytes } catch {
            throw CacheError(.registry(label: label, cause: error))
        }
    }

    func fetch(_ descriptor: Descriptor, to path: String) throws(CacheError) {
        do { try repository.downloadBlob(descriptor, to: path) } catch { throw CacheError(.registry(label: label, cause: error)) }
    }

    func has(_ digest: String, size: Int64) throws(CacheError) -> Bool {
        do { return try repository.hasBlob(digest, size: size) } catch { throw CacheError(.registry(label: label, cause: error)) }
    }

    func put(_ path: String, digest: String, size: Int64) throws(CacheError) {
        do { try repository.pushBlob(path: path, digest: digest, size: size) } catch {
            throw CacheError(.registry(label: label, cause: error))
        }
    }

    func putManifest(_ bytes: [UInt8]) throws(CacheError) {
        do { _ = try repository.pushManifest(bytes, mediaType: CacheIndex.manifestMediaType, tag: tag) } catch {
            throw CacheError(.registry(label: label, cause: error))
        }
    }
}
