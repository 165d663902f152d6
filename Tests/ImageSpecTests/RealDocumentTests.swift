// Manifests, indexes and configs as real tools write them: umoci (an OCI layout), skopeo (the
// same image as a Docker schema 2 manifest and config), and Docker Hub's shapes (a config of the
// legacy builder with its extra fields, a manifest list with attestation entries).
import Foundation
import ImageSpec
import Testing
import TestSupport

/// An OCI layout made by umoci with every configuration field umoci sets, and the same image
/// copied by skopeo into a `dir:` as a Docker schema 2 manifest.
final class ToolWrittenImage {
    let scratch = Scratch()
    var layout: String { scratch.sub("layout") }
    var dockerDir: String { scratch.sub("docker") }

    static let available = Tools.exists("umoci") && Tools.exists("skopeo") && Tools.exists("tar")

    init() throws {
        let root = scratch.sub("root")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try Data("hello\n".utf8).write(to: URL(fileURLWithPath: root + "/hello"))
        for args in [
            ["umoci", "init", "--layout", layout], ["umoci", "new", "--image", layout + ":t"],
            ["tar", "cf", scratch.sub("layer.tar"), "-C", root, "."],
            ["umoci", "raw", "add-layer", "--image", layout + ":t", scratch.sub("layer.tar")],
            [
                "umoci", "config", "--image", layout + ":t", "--architecture", "amd64", "--os", "linux",
                "--config.env", "PATH=/bin", "--config.env", "A=b=c", "--config.volume", "/data", "--config.volume", "/golem/work",
                "--config.exposedports", "80/tcp", "--config.entrypoint", "/bin/sh", "--config.cmd", "-c", "--config.cmd", "echo hi",
                "--config.workingdir", "/srv", "--config.user", "1000:1000", "--config.label", "a=b",
                "--config.stopsignal", "SIGTERM", "--author", "someone", "--history.created_by", "a step"
            ],
            ["skopeo", "copy", "-q", "--format", "v2s2", "oci:\(layout):t", "dir:\(dockerDir)"]
        ] {
            let r = Tools.run(args)
            guard r.status == 0 else { throw ToolFailure(message: "\(args.joined(separator: " ")): \(r.output)") }
        }
    }

    func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }
    func blob(_ digest: String) throws -> [UInt8] { try read(layout + "/blobs/sha256/" + digest.dropFirst("sha256:".count)) }

    struct ToolFailure: Error { var message: String }
}

@Suite(.enabled(if: ToolWrittenImage.available, "needs umoci, skopeo and tar"))
struct ToolWrittenDocuments {
    @Test func umocisLayoutDecodesToTheConfigurationItWasGiven() throws {
        let image = try ToolWrittenImage()
        let layoutFile = try JSONDocument.decode(
            ImageLayoutFile.self, from: try image.read(image.layout + "/oci-layout"), document: "oci-layout")
        #expect(layoutFile.imageLayoutVersion == "1.0.0")
        let index = try JSONDocument.decode(ImageIndex.self, from: try image.read(image.layout + "/index.json"), document: "index.json")
        let entry = try #require(index.manifests.first { $0.annotations?[Descriptor.refNameAnnotation] == "t" })
        #expect(entry.mediaType == MediaType.ociManifest)

        guard
            case .image(let manifest) = try ManifestDocument(
                decoding: try image.blob(entry.digest), declaredType: nil, document: entry.digest)
        else {
            Issue.record("not an image manifest"); return
        }
        #expect(manifest.config.mediaType == MediaType.ociConfig)
        #expect(manifest.layers.count == 1)
        let configBytes = try image.blob(manifest.config.digest)
        let config = try Verbatim<ImageConfiguration>(decoding: configBytes, document: manifest.config.digest)
        #expect(config.bytes == configBytes, "the bytes a digest names are kept as read")
        let c = try #require(config.value.config)
        #expect(config.value.platform == Platform(architecture: "amd64", os: "linux"))
        #expect(config.value.author == "someone")
        #expect(c.env == ["PATH=/bin", "A=b=c"] && c.environment["A"] == "b=c")
        #expect(c.volumes == ["/data", "/golem/work"] && c.exposedPorts == ["80/tcp"])
        #expect(c.entrypoint == ["/bin/sh"] && c.cmd == ["-c", "echo hi"])
        #expect(c.workingDir == "/srv" && c.user == "1000:1000" && c.labels == ["a": "b"] && c.stopSignal == "SIGTERM")
        #expect(config.value.diffIDs.count == 1 && config.value.diffIDs[0].hasPrefix("sha256:"))
        #expect(config.value.history?.last?.createdBy == "a step" && config.value.history?.last?.emptyLayer == true)
    }

    @Test func skopeosDockerSchema2CopyDecodesToTheSameConfiguration() throws {
        let image = try ToolWrittenImage()
        let bytes = try image.read(image.dockerDir + "/manifest.json")
        guard case .image(let manifest) = try ManifestDocument(decoding: bytes, declaredType: nil, document: "manifest.json") else {
            Issue.record("not an image manifest"); return
        }
        #expect(manifest.mediaType == MediaType.dockerManifest)
        #expect(manifest.config.mediaType == MediaType.dockerConfig)
        #expect(manifest.layers.map(\.mediaType) == ["application/vnd.docker.image.rootfs.diff.tar.gzip"])
        #expect(MediaType.layerKind(manifest.layers[0].mediaType!) == (true, false))
        let config = try JSONDocument.decode(
            ImageConfiguration.self, from: try image.read(image.dockerDir + "/" + manifest.config.digest.dropFirst(7)),
            document: manifest.config.digest)
        #expect(config.config?.volumes == ["/data", "/golem/work"] && config.config?.env == ["PATH=/bin", "A=b=c"])
        #expect(config.config?.trailerJSON() == ContainerConfig.umociTrailer)
    }
}

extension ContainerConfig {
    /// The trailer of the umoci image above: bollard's key order, sets as objects of `{}`.
    static let umociTrailer = Array(
        #"{"User":"1000:1000","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin","A=b=c"],"Cmd":["-c","echo hi"],"Volumes":{"/data":{},"/golem/work":{}},"WorkingDir":"/srv","Entrypoint":["/bin/sh"],"Labels":{"a":"b"},"StopSignal":"SIGTERM"}"#
            .utf8)
}

@Suite struct DockerHubDocuments {
    /// alpine:3.17's config as Docker's legacy builder wrote it: nulls, empty strings, and fields
    /// of its own (container, container_config, docker_version).
    static let legacyConfig = #"""
        {"architecture":"amd64","config":{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh"],"Image":"sha256:39dfd593e04b939e16d3a426af525cad29b8fc7410b06f4dbad8528b45e1e5a9","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null},"container":"ba09fe2c8f99faad95871d467a22c96f4bc8166bd01ce0a7c28dd5472697bfd1","container_config":{"Hostname":"ba09fe2c8f99","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],"Cmd":["/bin/sh","-c","#(nop) ","CMD [\"/bin/sh\"]"],"Image":"sha256:39dfd593e04b939e16d3a426af525cad29b8fc7410b06f4dbad8528b45e1e5a9","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":{}},"created":"2023-02-11T04:46:42.558343068Z","docker_version":"20.10.12","history":[{"created":"2023-02-11T04:46:42.449083344Z","created_by":"/bin/sh -c #(nop) ADD file:40887ab7c06977737e63c215c9bd297c0c74de8d12d16ebdf1c3d40ac392f62d in / "},{"created":"2023-02-11T04:46:42.558343068Z","created_by":"/bin/sh -c #(nop)  CMD [\"/bin/sh\"]","empty_layer":true}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:7cd52847ad775a5ddc4b58326cf884beee34544296402c6292ed76474c686d39"]}}
        """#

    @Test func aLegacyBuilderConfigDecodesWithItsNullsAndExtraFieldsIgnored() throws {
        let config = try JSONDocument.decode(ImageConfiguration.self, from: Array(Self.legacyConfig.utf8), document: "alpine config")
        let c = try #require(config.config)
        #expect(c.cmd == ["/bin/sh"] && c.user == "" && c.workingDir == "" && c.hostname == "")
        #expect(c.volumes == nil && c.entrypoint == nil && c.onBuild == nil && c.labels == nil)
        #expect(c.image == "sha256:39dfd593e04b939e16d3a426af525cad29b8fc7410b06f4dbad8528b45e1e5a9")
        #expect(config.created == "2023-02-11T04:46:42.558343068Z")
        #expect(config.history?.map(\.emptyLayer) == [nil, true])
        #expect(config.diffIDs == ["sha256:7cd52847ad775a5ddc4b58326cf884beee34544296402c6292ed76474c686d39"])
    }

    /// A multi-platform index as Docker Hub serves one today: variants, os.version, and
    /// attestation manifests for "unknown/unknown".
    static let index = #"""
        {"manifests":[{"annotations":{"com.docker.official-images.bashbrew.arch":"amd64","org.opencontainers.image.base.name":"scratch"},"digest":"sha256:1c4eef651f65e2f7daee7ee785882ac164b02b78fb74503052a26dc061c90474","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"linux"},"size":1018},{"digest":"sha256:a0c0d4f1c8f4d4d5d0b0bb3b6a8bfcb53bc6ea1e5f1e2c88bb3d2a1b4d9b1cd7","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm64","os":"linux","variant":"v8"},"size":1018},{"digest":"sha256:5a2a0ddd2b6cbd6a17a51f21e4bb7cd52a4cc9c8e5c2b9e2f0a34d7d4f1e9f11","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"amd64","os":"windows","os.version":"10.0.20348.2340","os.features":["win32k"]},"size":1018},{"annotations":{"vnd.docker.reference.digest":"sha256:1c4eef651f65e2f7daee7ee785882ac164b02b78fb74503052a26dc061c90474","vnd.docker.reference.type":"attestation-manifest"},"digest":"sha256:9a7b2a3a5c0f8d8cc0e0dc3c8e5f6a1d2b3c4d5e6f708192a3b4c5d6e7f80912","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"unknown","os":"unknown"},"size":839}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}
        """#

    @Test func anIndexWithVariantsOsVersionsAndAttestationsDecodes() throws {
        guard case .index(let index) = try ManifestDocument(decoding: Array(Self.index.utf8), declaredType: nil, document: "alpine") else {
            Issue.record("not an index"); return
        }
        let platforms = index.manifests.compactMap(\.platform)
        #expect(platforms.map(\.description) == ["linux/amd64", "linux/arm64/v8", "windows/amd64", "unknown/unknown"])
        #expect(platforms[2].osVersion == "10.0.20348.2340" && platforms[2].osFeatures == ["win32k"])
        #expect(platforms[1].matches(Platform(parsing: "linux/arm64/v8")!) && !platforms[0].matches(Platform(parsing: "linux/arm64")!))
        #expect(index.manifests[3].annotations?["vnd.docker.reference.type"] == "attestation-manifest")
        // The same bytes read as an index whatever the registry's Content-Type said.
        guard case .index = try ManifestDocument(decoding: Array(Self.index.utf8), declaredType: MediaType.ociManifest, document: "alpine")
        else {
            Issue.record("the document's own mediaType decides"); return
        }
    }

    @Test func aSchema1ManifestIsNeitherIndexNorImageManifest() throws {
        let schema1 =
            #"{"schemaVersion":1,"name":"library/x","tag":"1","architecture":"amd64","fsLayers":[{"blobSum":"sha256:a"}],"history":[]}"#
        guard case .other = try ManifestDocument(decoding: Array(schema1.utf8), declaredType: MediaType.dockerSchema1Signed, document: "x")
        else {
            Issue.record("schema 1 taken for something it is not"); return
        }
    }
}
