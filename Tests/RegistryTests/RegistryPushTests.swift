// Pushing to real registries (Fixtures/start_registries.sh: Debian's docker-registry plain, with
// htpasswd basic auth and with bearer tokens, and the fault-injecting proxy in front of the plain
// one): blobs in one PUT and in PATCH chunks, skipped and mounted blobs, manifests with the build
// cache's own media types, and uploads that lose a chunk. What was pushed is read back with curl
// and skopeo as well as with the client's own downloadBlob.
import Crypto
import Foundation
import ImageSpec
import Testing
@testable import Registry

/// A file of `size` pseudo-random bytes (different for every file unless a seed is given) and its digest.
struct BlobFile {
    let path: String
    let digest: String
    let size: Int64

    init(_ path: String, size: Int, seed: UInt64 = .random(in: 1...UInt64.max)) throws {
        var state = seed | 1
        var bytes = [UInt8](repeating: 0, count: size)
        bytes.withUnsafeMutableBytes { raw in
            let words = raw.bindMemory(to: UInt64.self)
            for i in words.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                words[i] = state
            }
        }
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        self.path = path
        self.size = Int64(size)
        digest = "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }

    var descriptor: Descriptor { Descriptor(mediaType: nil, digest: digest, size: size, platform: nil, urls: nil, annotations: nil) }
}

@Suite(.serialized, .enabled(if: LoopbackRegistries.available, Comment(rawValue: LoopbackRegistries.why)))
struct RegistryPushTests {
    /// ~70 MiB: three PATCH chunks (32 + 32 + 6 MiB), shared by the tests that need a big blob;
    /// in the registries' directory, which goes when the test process does.
    static let large: BlobFile? = try? BlobFile(
        (LoopbackRegistries.ports["WORK"] ?? "/nonexistent") + "/large-blob", size: 70 << 20 | 12345)

    static func repository(_ server: String, _ path: String, user: String? = nil) throws -> RegistryRepository {
        var options = RegistryOptions()
        options.backoff = 0.01
        if let user { options.credentials.add(host: LoopbackRegistries.registry(server), Credential(username: user, password: "s3cret")) }
        return try RegistryRepository(try ImageReference(LoopbackRegistries.registry(server) + "/" + path), options: options)
    }

    /// A repository name no other test (or earlier run against the same servers) uses.
    static func unique(_ name: String) -> String { "push/\(name)-\(UUID().uuidString.prefix(8).lowercased())" }

    /// The blob as curl fetches it from the plain registry (not through gvmc's client).
    static func curlBlob(_ repository: String, _ digest: String, to path: String) -> Bool {
        let url = "http://\(LoopbackRegistries.registry("PLAIN"))/v2/\(repository)/blobs/\(digest)"
        return Tools.run(["curl", "-sSfL", "-o", path, url]).status == 0
    }

    static func sameFiles(_ a: String, _ b: String) -> Bool { Tools.run(["cmp", "-s", a, b]).status == 0 }

    /// The proxy's log lines of one nonce's requests, as "METHOD RANGE" (the paths carry session state).
    static func proxyRequests(_ nonce: String) -> [String] {
        let log = (try? String(contentsOfFile: (LoopbackRegistries.ports["WORK"] ?? "") + "/proxy.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("/\(nonce)/") }.map { line in
            let fields = line.split(separator: " ")
            return "\(fields[0]) \(fields.last ?? "-")"
        }
    }

    @Test func smallBlobGoesUpInOnePutAndASecondPushIsSkipped() throws {
        let scratch = Scratch()
        let blob = try BlobFile(scratch.sub("small"), size: 300_001)
        let nonce = "ok-" + UUID().uuidString.prefix(8).lowercased()
        let name = Self.unique("small")
        let viaProxy = try Self.repository("PROXY", "f/\(nonce)/" + name)
        #expect(try viaProxy.pushBlob(path: blob.path, digest: blob.digest, size: blob.size) == true)
        #expect(Self.proxyRequests(nonce) == ["HEAD -", "POST -", "PUT -"], "HEAD, a new session, one PUT with the bytes")
        let plain = try Self.repository("PLAIN", name)
        #expect(try plain.hasBlob(blob.digest, size: blob.size))
        #expect(try !plain.hasBlob(blob.digest, size: blob.size + 1), "a blob of another size is not the one asked for")
        #expect(try plain.pushBlob(path: blob.path, digest: blob.digest, size: blob.size) == false)
        #expect(Self.curlBlob(name, blob.digest, to: scratch.sub("curl")) && Self.sameFiles(blob.path, scratch.sub("curl")))
        try plain.downloadBlob(blob.descriptor, to: scratch.sub("downloaded"))
        #expect(Self.sameFiles(blob.path, scratch.sub("downloaded")))

        // A download that fails its check leaves nothing behind, not even its temporary file.
        let empty = scratch.sub("empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        var short = blob.descriptor
        short.size -= 1
        #expect(throws: RegistryError.self) { try plain.downloadBlob(short, to: empty + "/blob") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: empty) == [])
    }

    @Test func largeBlobGoesUpInChunksOf32MiB() throws {
        let blob = try #require(Self.large)
        let scratch = Scratch()
        let nonce = "ok-" + UUID().uuidString.prefix(8).lowercased()
        let name = Self.unique("large")
        let viaProxy = try Self.repository("PROXY", "f/\(nonce)/" + name)
        #expect(try viaProxy.pushBlob(path: blob.path, digest: blob.digest, size: blob.size) == true)
        let chunk = 32 << 20, size = Int(blob.size)
        #expect(
            Self.proxyRequests(nonce) == [
                "HEAD -", "POST -", "PATCH 0-\(chunk - 1)", "PATCH \(chunk)-\(2 * chunk - 1)",
                "PATCH \(2 * chunk)-\(size - 1)", "PUT -"
            ])
        #expect(try viaProxy.pushBlob(path: blob.path, digest: blob.digest, size: blob.size) == false)
        #expect(Self.curlBlob(name, blob.digest, to: scratch.sub("curl")) && Self.sameFiles(blob.path, scratch.sub("curl")))
        try Self.repository("PLAIN", name).downloadBlob(blob.descriptor, to: scratch.sub("downloaded"))
        #expect(Self.sameFiles(blob.path, scratch.sub("downloaded")))
    }

    /// `patchdrop`: the second chunk is cut off before the registry sees it; the upload's status
    /// says 32 MiB arrived, and the upload goes on from there in the same session.
    /// `patchlost`: the registry took the second chunk but its answer was lost; the session no
    /// longer matches its state, so the upload starts again in a new one.
    @Test(arguments: ["patchdrop", "patchlost"])
    func interruptedChunkDoesNotCorruptTheUpload(mode: String) throws {
        let blob = try #require(Self.large)
        let scratch = Scratch()
        let nonce = mode + "-" + UUID().uuidString.prefix(8).lowercased()
        let name = Self.unique(mode)
        #expect(try Self.repository("PROXY", "f/\(nonce)/" + name).pushBlob(path: blob.path, digest: blob.digest, size: blob.size))
        let requests = Self.proxyRequests(nonce)
        let second = "PATCH \(32 << 20)-\((64 << 20) - 1)"
        #expect(requests.filter { $0 == second }.count >= 2, "the second chunk was sent again: \(requests)")
        #expect(requests.contains("GET -"), "the upload's status was asked: \(requests)")
        #expect(requests.filter { $0 == "POST -" }.count == (mode == "patchdrop" ? 1 : 2), "\(requests)")
        #expect(Self.curlBlob(name, blob.digest, to: scratch.sub("curl")) && Self.sameFiles(blob.path, scratch.sub("curl")))
    }

    @Test func blobWhoseBytesDoNotMatchItsDigestIsRefusedByName() throws {
        let scratch = Scratch()
        let blob = try BlobFile(scratch.sub("blob"), size: 4096)
        let other = try BlobFile(scratch.sub("other"), size: 4096, seed: 42)
        let repository = try Self.repository("PLAIN", Self.unique("wrong"))
        let error = try #require(throws: RegistryError.self) {
            try repository.pushBlob(path: other.path, digest: blob.digest, size: blob.size)
        }
        #expect(
            error.message.contains("blob \(blob.digest)") && error.message.contains(other.path)
                && error.message.contains("DIGEST_INVALID"), "\(error.message)")
        #expect(try !repository.hasBlob(blob.digest, size: blob.size))
        let short = try #require(throws: RegistryError.self) {
            try repository.pushBlob(path: blob.path, digest: blob.digest, size: blob.size + 1)
        }
        #expect(short.message.contains("4096 bytes, not the 4097"), "\(short.message)")
    }

    @Test func mountFromAnotherRepositorySendsNoBytes() throws {
        let scratch = Scratch()
        let blob = try BlobFile(scratch.sub("blob"), size: 100_000)
        let source = Self.unique("mount-source"), target = Self.unique("mount-target")
        #expect(try Self.repository("PLAIN", source).pushBlob(path: blob.path, digest: blob.digest, size: blob.size))
        let repository = try Self.repository("PLAIN", target)
        #expect(try !repository.hasBlob(blob.digest, size: blob.size))
        #expect(try repository.pushBlob(path: blob.path, digest: blob.digest, size: blob.size, mountFrom: source) == false)
        #expect(try repository.hasBlob(blob.digest, size: blob.size))
        // A source that lacks the blob: the registry opens an upload session instead (202).
        let fresh = try BlobFile(scratch.sub("fresh"), size: 1000, seed: 7)
        #expect(try repository.pushBlob(path: fresh.path, digest: fresh.digest, size: fresh.size, mountFrom: Self.unique("empty")))
        #expect(try repository.hasBlob(fresh.digest, size: fresh.size))
    }

    /// An OCI manifest of the remote build cache's shape: its own config media type and an artifactType.
    static func cacheManifest(config: BlobFile, layer: BlobFile) -> [UInt8] {
        Array(
            """
            {"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",\
            "artifactType":"application/vnd.gvmc.cache.v1",\
            "config":{"mediaType":"application/vnd.gvmc.cache.config.v1+json","digest":"\(config.digest)","size":\(config.size)},\
            "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"\(layer.digest)","size":\(layer.size)}]}
            """.utf8)
    }

    /// Pushes a config, a layer and the cache manifest under `tag`; the manifest's bytes and digest.
    static func pushCacheImage(_ repository: RegistryRepository, tag: String, scratch: Scratch) throws -> ([UInt8], String) {
        let config = try BlobFile(scratch.sub("config-\(tag)"), size: 200)
        let layer = try BlobFile(scratch.sub("layer-\(tag)"), size: 50_000)
        try repository.pushBlob(path: config.path, digest: config.digest, size: config.size)
        try repository.pushBlob(path: layer.path, digest: layer.digest, size: layer.size)
        let manifest = cacheManifest(config: config, layer: layer)
        let digest = try repository.pushManifest(manifest, mediaType: MediaType.ociManifest, tag: tag)
        return (manifest, digest)
    }

    @Test func manifestWithTheCachesMediaTypesReadsBackByteForByte() throws {
        let scratch = Scratch()
        let name = Self.unique("cache")
        let repository = try Self.repository("PLAIN", name)
        #expect(try repository.manifestIfPresent("buildcache") == nil, "no repository yet")
        let (manifest, digest) = try Self.pushCacheImage(repository, tag: "buildcache", scratch: scratch)
        #expect(digest == "sha256:" + SHA256.hash(data: manifest).map { String(format: "%02x", $0) }.joined())
        let skopeo = Tools.run([
            "skopeo", "inspect", "--raw", "--tls-verify=false", "docker://\(LoopbackRegistries.registry("PLAIN"))/\(name):buildcache"
        ])
        #expect(skopeo.status == 0 && Array(skopeo.output.utf8) == manifest, "\(skopeo.output)")
        for reference in ["buildcache", digest] {
            let read = try #require(try repository.manifestIfPresent(reference))
            #expect(read.bytes == manifest && read.digest == digest && read.mediaType == MediaType.ociManifest)
        }
        #expect(try repository.manifestIfPresent("missing") == nil)
        #expect(throws: RegistryError.self) { try repository.manifestIfPresent("bad/tag") }
    }

    @Test func basicAuthPushesWithCredentialsAndAsksForThemWithout() throws {
        let scratch = Scratch()
        let name = Self.unique("basic")
        let repository = try Self.repository("BASIC", name, user: "gvmc")
        let (manifest, digest) = try Self.pushCacheImage(repository, tag: "v1", scratch: scratch)
        #expect(try repository.manifestIfPresent("v1")?.bytes == manifest)
        #expect(try repository.manifestIfPresent(digest)?.digest == digest)

        let anonymous = try Self.repository("BASIC", name)
        let blob = try BlobFile(scratch.sub("anonymous"), size: 10)
        let error = try #require(throws: RegistryError.self) {
            try anonymous.pushBlob(path: blob.path, digest: blob.digest, size: blob.size)
        }
        #expect(error.message.contains("requires a username and password") && error.message.contains("--registry-auth"), "\(error.message)")
        let wrong = try RegistryRepository(
            try ImageReference(LoopbackRegistries.registry("BASIC") + "/" + name),
            options: {
                var options = RegistryOptions()
                options.credentials.add(
                    host: LoopbackRegistries.registry("BASIC"), Credential(username: "gvmc", password: "wrong-password"))
                return options
            }())
        let refused = try #require(throws: RegistryError.self) { try wrong.pushBlob(path: blob.path, digest: blob.digest, size: blob.size) }
        #expect(refused.message.contains("authentication failed") && !refused.message.contains("wrong-password"), "\(refused.message)")
    }

    /// A pull-scoped token first (the manifest lookup), then the push asks for pull,push; a mount
    /// asks for the source repository's pull scope too.
    @Test(arguments: ["TOKEN", "TOKAUTH"])
    func tokenAuthReauthenticatesForThePush(server: String) throws {
        let scratch = Scratch()
        let name = Self.unique("token")
        let repository = try Self.repository(server, name, user: server == "TOKAUTH" ? "gvmc" : nil)
        #expect(try repository.manifestIfPresent("v1") == nil)
        let (manifest, _) = try Self.pushCacheImage(repository, tag: "v1", scratch: scratch)
        #expect(try repository.manifestIfPresent("v1")?.bytes == manifest)
        let blob = try BlobFile(scratch.sub("mounted"), size: 5000)
        #expect(try repository.pushBlob(path: blob.path, digest: blob.digest, size: blob.size))
        let targetName = Self.unique("token-target")
        let target = try Self.repository(server, targetName, user: server == "TOKAUTH" ? "gvmc" : nil)
        #expect(try target.pushBlob(path: blob.path, digest: blob.digest, size: blob.size, mountFrom: name) == false)
        #expect(try target.hasBlob(blob.digest, size: blob.size))

        let log =
            (try? String(
                contentsOfFile: (LoopbackRegistries.ports["WORK"] ?? "")
                    + (server == "TOKEN" ? "/token-server.log" : "/tokenauth-server.log"),
                encoding: .utf8)) ?? ""
        // "token HOW SCOPE SCOPE...", scopes and their actions sorted (the registry lists them in no fixed order).
        let scopes = log.split(separator: "\n").filter { $0.contains(name) }.map { line in
            line.split(separator: " ").dropFirst(2).map { scope in
                let colon = scope.lastIndex(of: ":") ?? scope.endIndex
                return scope[..<colon] + ":" + scope[colon...].dropFirst().split(separator: ",").sorted().joined(separator: ",")
            }.sorted().joined(separator: " ")
        }
        #expect(
            scopes == [
                "repository:\(name):pull", "repository:\(name):pull,push",
                "repository:\(name):pull repository:\(targetName):pull,push"
            ], "\(scopes)")
    }

    @Test func uploadLocationsResolveAgainstTheRequest() {
        let base = "http://r:5000/v2/a/b/blobs/uploads/"
        #expect(RegistryClient.resolve("https://s3.example/up?x=1", against: base) == "https://s3.example/up?x=1")
        #expect(
            RegistryClient.resolve("/v2/a/b/blobs/uploads/u1?_state=z", against: base + "?mount=x")
                == "http://r:5000/v2/a/b/blobs/uploads/u1?_state=z")
        #expect(RegistryClient.resolve("u2?_state=y", against: base + "u1?_state=z") == "http://r:5000/v2/a/b/blobs/uploads/u2?_state=y")
    }
}
