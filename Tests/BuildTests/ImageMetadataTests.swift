// `--metadata-file` is written from Encodable types now; its bytes must be the ones the
// JSONSerialization writer of [String: Any] objects gave, as tools may compare them.
import Build
import Foundation
import ImageSpec
import Testing

@Suite struct ImageMetadataBytes {
    struct Push: Encodable, Sendable {
        var download_url = "http://r/download/bb"
        var tag: String? = "alice/app:1"
        var chunks_sent = 2
    }

    func old(_ object: [String: Any]) throws -> [UInt8] {
        Array(try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) + [0x0A]
    }

    @Test func aBuildsMetadataHasTheBytesOfTheOldWriter() throws {
        var config = ContainerConfig()
        config.env = ["PATH=/usr/bin:/bin"]
        config.volumes = ["/golem/output", "/data10", "/data9", "/Data"]
        config.exposedPorts = ["443/tcp", "80/tcp"]
        config.labels = ["b": "1", "A": "2", "a10": "3", "a9": "4"]
        config.healthcheck = HealthConfig(test: ["CMD", "true"], interval: 1)
        config.argsEscaped = true
        var metadata = ImageMetadata(
            image: .init(path: "/out/app.gvmi", size: 123_456, sha3_224: "ab", sha256: "cd", compression: "lzo"),
            config: config,
            steps: [
                .init(vertex: 1, name: "[internal] load build definition", cached: false, duration: 0),
                .init(vertex: 2, name: "RUN echo \"a/b\"", cached: true, duration: 12.0, key: "k", cachedFrom: "registry x/y:z"),
                .init(vertex: 3, name: "COPY . /app", cached: false, duration: 1.234, error: "failed: é")
            ])
        metadata.push = Push()
        let object: [String: Any] = [
            "image": ["path": "/out/app.gvmi", "size": UInt64(123_456), "sha3_224": "ab", "sha256": "cd", "compression": "lzo"]
                as [String: Any],
            "config": try JSONSerialization.jsonObject(with: Data(config.trailerJSON())),
            "steps": [
                ["vertex": 1, "name": "[internal] load build definition", "cached": false, "duration": 0.0] as [String: Any],
                ["vertex": 2, "name": "RUN echo \"a/b\"", "cached": true, "duration": 12.0, "key": "k", "cachedFrom": "registry x/y:z"],
                ["vertex": 3, "name": "COPY . /app", "cached": false, "duration": 1.234, "error": "failed: é"]
            ],
            "push": ["download_url": "http://r/download/bb", "tag": "alice/app:1", "chunks_sent": 2] as [String: Any]
        ]
        #expect(String(decoding: metadata.fileBytes(), as: UTF8.self) == String(decoding: try old(object), as: UTF8.self))
    }

    @Test func aPushsMetadataHasOnlyTheImagesPathSizeAndHash() throws {
        let metadata = ImageMetadata(image: .init(path: "a.gvmi", size: 5, sha3_224: "ff"))
        #expect(metadata.fileBytes() == (try old(["image": ["path": "a.gvmi", "size": UInt64(5), "sha3_224": "ff"] as [String: Any]])))
    }
}
