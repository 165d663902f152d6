// One repository of an OCI registry, for reading and writing: the face of RegistryClient that
// the remote build cache uses to look up, fetch and publish its blobs and manifests.
import Foundation
import ImageSpec
import SquashFS

/// One repository of an OCI registry, for reading and writing (the remote build cache uses it).
/// Holds one connection and the registry's token: not for concurrent use (give each thread its own).
public final class RegistryRepository {
    let client: RegistryClient

    public init(_ reference: ImageReference, options: RegistryOptions) throws(RegistryError) {
        client = try RegistryClient(reference: reference, options: options)
    }

    public var reference: ImageReference { client.reference }

    /// `registry/repository`, as errors name it.
    var name: String { "\(reference.registry)/\(reference.repository)" }

    /// The manifest under `tagOrDigest`, or nil when the registry answers 404 (no such tag /
    /// repository). Digest-checked like a pull's manifest.
    public func manifestIfPresent(_ tagOrDigest: String) throws(RegistryError) -> (bytes: [UInt8], mediaType: String, digest: String)? {
        try checkTagOrDigest(tagOrDigest)
        return try typed { try client.manifestIfPresent(tagOrDigest) }
    }

    /// HEAD /v2/<repo>/blobs/<digest>: whether the registry has the blob (true only when its
    /// size matches if the registry sends Content-Length).
    public func hasBlob(_ digest: String, size: Int64) throws(RegistryError) -> Bool {
        try validateDigest(digest, what: "\(name): blob")
        return try typed { try client.hasBlob(digest, size: size) }
    }

    /// Uploads the file at `path` (its sha256 digest and size known to the caller) unless the
    /// registry has it already: HEAD first; then, when `mountFrom` names another repository on
    /// the same registry, a cross-repository mount; then one PUT (files up to 32 MiB) or PATCH
    /// chunks of 32 MiB and a closing PUT ?digest=. The registry checks the digest. Returns true
    /// when bytes were sent, false when skipped (exists or mounted).
    @discardableResult
    public func pushBlob(path: String, digest: String, size: Int64, mountFrom: String? = nil) throws(RegistryError) -> Bool {
        try validateDigest(digest, what: "\(name): blob")
        var source: String?
        if let mountFrom {
            // Normalised as a reference on this registry would be (docker.io's `alpine` is `library/alpine`).
            guard !mountFrom.contains(":"), !mountFrom.contains("@") else {
                throw RegistryError("\(name): blob \(digest): cannot mount from \"\(mountFrom)\": a repository has no tag or digest")
            }
            do { source = try ImageReference("\(reference.registry)/\(mountFrom)").repository } catch {
                throw RegistryError("\(name): blob \(digest): cannot mount from \"\(mountFrom)\": \(error.reason)")
            }
        }
        let file = try MappedFile(path, expectedSize: size)
        return try typed { try client.pushBlob(file, digest: digest, mountFrom: source) }
    }

    /// PUT /v2/<repo>/manifests/<tag> with Content-Type `mediaType`; returns the digest (sha256
    /// of `bytes`), checked against the registry's Docker-Content-Digest if it sends one.
    /// The blobs it names must be in the repository already (registries refuse it otherwise).
    public func pushManifest(_ bytes: [UInt8], mediaType: String, tag: String) throws(RegistryError) -> String {
        try checkTagOrDigest(tag)
        return try typed { try client.pushManifest(bytes, mediaType: mediaType, tag: tag) }
    }

    /// Downloads a blob into `path`: written to a temporary file beside it and renamed only
    /// after the size and digest check; nothing is left behind on failure.
    public func downloadBlob(_ descriptor: Descriptor, to path: String) throws(RegistryError) {
        try validateDigest(descriptor.digest, what: "\(name): blob")
        let output: OutputFile
        do { output = try OutputFile(target: path) } catch { throw RegistryError(nil, cause: error) }
        do throws(RegistryError) {
            try typed { try client.blob(descriptor, to: output.fileDescriptor) }
            guard fsync(output.fileDescriptor) == 0 else {
                throw RegistryError.system("", output.temporaryPath, ": fsync failed")
            }
            do { try output.commit() } catch { throw RegistryError(nil, cause: error) }
        } catch {
            output.discard()
            throw error
        }
    }

    /// A tag, or a digest, that can stand in a URL path.
    private func checkTagOrDigest(_ text: String) throws(RegistryError) {
        if text.contains(":") { return try validateDigest(text, what: "\(name): manifest") }
        guard ImageReference.isValidTag(text) else { throw RegistryError("\(name): invalid tag \"\(text)\"") }
    }

    /// The client's errors as RegistryError (a transport's own error types keep their message).
    private func typed<T>(_ body: () throws -> T) throws(RegistryError) -> T {
        do { return try body() } catch let error as RegistryError { throw error } catch {
            throw RegistryError(name, cause: error)
        }
    }
}
