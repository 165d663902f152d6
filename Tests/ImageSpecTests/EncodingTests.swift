// What gvmc writes from these types: documents it makes (an index, a manifest) round-trip and
// have the bytes gvmc always wrote; the trailer keeps bollard's order; the Encodable form of a
// container configuration is the one metadata files always had.
import Foundation
import ImageSpec
import Testing

@Suite struct Encoding {
    func sample() -> ContainerConfig {
        var c = ContainerConfig()
        c.user = "1000:1000"
        c.env = ["PATH=/bin", "Q=\"quoted\" \\ tab\t é"]
        c.cmd = ["/bin/sh", "-c", "echo </dev/null"]
        c.volumes = ["/golem/output", "/data"]
        c.exposedPorts = ["80/tcp"]
        c.workingDir = "/srv"
        c.labels = ["z": "1", "a": "2"]
        c.healthcheck = HealthConfig(test: ["CMD", "true"], interval: 30_000_000_000, retries: 3)
        c.argsEscaped = true
        c.stopSignal = "SIGTERM"
        c.shell = ["/bin/bash", "-c"]
        c.onBuild = ["RUN true"]
        return c
    }

    @Test func theTrailerHasBollardsKeyOrderAndFixedBytes() {
        let expected =
            #"{"User":"1000:1000","ExposedPorts":{"80/tcp":{}},"Env":["PATH=/bin","Q=\"quoted\" \\ tab\t é"],"Cmd":["/bin/sh","-c","echo </dev/null"],"Healthcheck":{"Test":["CMD","true"],"Interval":30000000000,"Retries":3},"ArgsEscaped":true,"Volumes":{"/golem/output":{},"/data":{}},"WorkingDir":"/srv","OnBuild":["RUN true"],"Labels":{"a":"2","z":"1"},"StopSignal":"SIGTERM","Shell":["/bin/bash","-c"]}"#
        #expect(String(decoding: sample().trailerJSON(), as: UTF8.self) == expected)
        #expect(ContainerConfig().trailerJSON() == Array("{}".utf8))
    }

    @Test func theTrailerReadsBackToTheSameConfiguration() throws {
        var c = sample()
        c.volumes = c.volumes?.sorted()
        #expect(try ContainerConfig(json: c.trailerJSON(), document: "trailer") == c)
    }

    /// Metadata files used to hold the trailer JSON parsed and written again by JSONSerialization;
    /// the Encodable form, in Foundation's key order, gives the same bytes.
    @Test func theEncodableFormIsWhatJSONSerializationMadeOfTheTrailer() throws {
        var numbered = sample()
        numbered.exposedPorts = ["443/tcp", "80/tcp", "8080/udp"]
        numbered.labels = ["a10": "x", "a9": "y", "B": "z", "a": "w"]
        for c in [sample(), numbered, ContainerConfig()] {
            let parsed = try JSONSerialization.jsonObject(with: Data(c.trailerJSON()))
            let options: JSONSerialization.WritingOptions = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            let old = Array(try JSONSerialization.data(withJSONObject: parsed, options: options))
            #expect(
                JSONDocument.encodeInFoundationKeyOrder(c, options: [.prettyPrinted, .withoutEscapingSlashes]) == old,
                "\(String(decoding: old, as: UTF8.self))")
        }
    }

    /// Why that order is needed: JSONEncoder compares code points, Foundation digit runs as numbers.
    @Test func foundationsKeyOrderComparesNumbers() throws {
        let keys = ["sha256": 1, "sha3_224": 2, "80/tcp": 3, "443/tcp": 4]
        #expect(String(decoding: JSONDocument.encode(keys), as: UTF8.self) == #"{"443/tcp":4,"80/tcp":3,"sha256":1,"sha3_224":2}"#)
        #expect(
            String(decoding: JSONDocument.encodeInFoundationKeyOrder(keys, options: [.withoutEscapingSlashes]), as: UTF8.self)
                == #"{"80/tcp":3,"443/tcp":4,"sha3_224":2,"sha256":1}"#)
    }

    @Test func anIndexRoundTripsAndKeepsItsAnnotations() throws {
        var index = ImageIndex(manifests: [
            Descriptor(
                mediaType: MediaType.ociManifest, digest: "sha256:aa", size: 12,
                platform: Platform(architecture: "arm64", os: "linux", variant: "v8"),
                annotations: [Descriptor.refNameAnnotation: "latest"])
        ])
        index.annotations = ["created-by": "gvmc"]
        let bytes = JSONDocument.encode(index)
        let expected =
            #"{"annotations":{"created-by":"gvmc"},"manifests":[{"annotations":{"org.opencontainers.image.ref.name":"latest"},"#
            + #""digest":"sha256:aa","mediaType":"application/vnd.oci.image.manifest.v1+json","platform":{"architecture":"arm64","os":"linux","#
            + #""variant":"v8"},"size":12}],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        #expect(String(decoding: bytes, as: UTF8.self) == expected)
        #expect(try JSONDocument.decode(ImageIndex.self, from: bytes, document: "index.json") == index)
    }

    /// The shared step cache's manifest, as gvmc wrote it with JSONSerialization before.
    @Test func aNewManifestHasTheBytesGvmcAlwaysWrote() throws {
        let manifest = ImageManifest(
            artifactType: "application/vnd.gvmc.cache.v1",
            config: Descriptor(mediaType: "application/vnd.gvmc.cache.config.v1+json", digest: "sha256:cc", size: 99),
            layers: [Descriptor(mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: "sha256:ll", size: 1 << 40)])
        let object: [String: Any] = [
            "schemaVersion": 2, "mediaType": MediaType.ociManifest, "artifactType": "application/vnd.gvmc.cache.v1",
            "config": ["mediaType": "application/vnd.gvmc.cache.config.v1+json", "digest": "sha256:cc", "size": Int64(99)],
            "layers": [["mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:ll", "size": Int64(1 << 40)]]
        ]
        let old = Array(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
        #expect(JSONDocument.encode(manifest) == old)
        #expect(try JSONDocument.decode(ImageManifest.self, from: old, document: "m") == manifest)
    }
}
