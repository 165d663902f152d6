// The documents Registry reads are decoded strictly: a field of the wrong type in a layout's
// manifest or config, Docker's config.json or a docker-archive's manifest.json is an error that
// names the image (or file) and the field, where it used to be dropped.
import Crypto
import Foundation
import ImageSpec
@testable import Registry
import Testing

@Suite struct StrictDocuments {
    /// An OCI layout whose manifest is `manifest(configDescriptor)` and whose config is `config`.
    func layout(
        _ scratch: Scratch, config: String, manifest: ((String, Int) -> String)? = nil,
        ociLayout: String = #"{"imageLayoutVersion":"1.0.0"}"#
    ) throws -> String {
        let dir = scratch.sub("layout")
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        func blob(_ text: String) throws -> (String, Int) {
            let digest = "sha256:" + SHA256.hash(data: Array(text.utf8)).map { String(format: "%02x", $0) }.joined()
            try Data(text.utf8).write(to: URL(fileURLWithPath: dir + "/blobs/sha256/" + digest.dropFirst(7)))
            return (digest, text.utf8.count)
        }
        let (c, cn) = try blob(config)
        let m =
            manifest?(c, cn)
            ?? #"{"schemaVersion":2,"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"\#(c)","size":\#(cn)},"layers":[]}"#
        let (md, mn) = try blob(m)
        try Data(ociLayout.utf8).write(to: URL(fileURLWithPath: dir + "/oci-layout"))
        try Data(
            #"{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"\#(md)","size":\#(mn),"annotations":{"org.opencontainers.image.ref.name":"t"}}]}"#
                .utf8
        )
        .write(to: URL(fileURLWithPath: dir + "/index.json"))
        return dir
    }

    func pullError(_ dir: String, _ scratch: Scratch) -> String {
        let puller = ImagePuller(
            options: RegistryOptions(), cache: BlobCache(directory: scratch.sub("cache")),
            platform: Platform(architecture: "amd64", os: "linux"))
        do { _ = try puller.pull(.ociLayout(path: dir, tag: "t")); return "" } catch { return "\(error)" }
    }

    @Test func aMistypedConfigFieldNamesTheImageTheConfigAndTheField() throws {
        let scratch = Scratch()
        let config = #"{"architecture":"amd64","os":"linux","config":{"Env":"PATH=/bin"},"rootfs":{"type":"layers","diff_ids":[]}}"#
        let dir = try layout(scratch, config: config)
        let digest = "sha256:" + SHA256.hash(data: Array(config.utf8)).map { String(format: "%02x", $0) }.joined()
        #expect(pullError(dir, scratch) == "oci-layout://\(dir):t: config \(digest): config.Env: expected a list, found a string")
    }

    @Test func aMistypedManifestFieldIsNamed() throws {
        let scratch = Scratch()
        let dir = try layout(scratch, config: "{}") { c, n in
            #"{"schemaVersion":2,"config":{"digest":"\#(c)","size":\#(n)},"layers":[{"digest":"\#(c)","size":"\#(n)"}]}"#
        }
        let message = pullError(dir, scratch)
        #expect(
            message.hasPrefix(
                "oci-layout://\(dir):t: the registry sent a malformed manifest (layers[0].size: expected an integer, found a string;"),
            "\(message)")
    }

    @Test func anOCILayoutFileOfTheWrongShapeSaysWhy() throws {
        let scratch = Scratch()
        let dir = try layout(scratch, config: "{}", ociLayout: #"{"imageLayoutVersion":1}"#)
        #expect(
            pullError(dir, scratch).hasSuffix(
                "not an OCI image layout (no valid oci-layout file: imageLayoutVersion: expected a string, found a number)"))
    }

    @Test func aMistypedDockerConfigEntryIsNamedNotSkipped() throws {
        let scratch = Scratch()
        try Data(#"{"auths": {"x.io": {"auth": 12}}, "credsStore": "desktop"}"#.utf8).write(
            to: URL(fileURLWithPath: scratch.sub("config.json")))
        #expect {
            _ = try CredentialStore.standard(flags: [], environment: ["DOCKER_CONFIG": scratch.path])
        } throws: { error in
            "\(error)" == "\(scratch.path)/config.json: auths.x.io.auth: expected a string, found a number"
        }
        try Data(#"{"auths": {"x.io": {}}, "credHelpers": {"gcr.io": "gcloud"}}"#.utf8).write(
            to: URL(fileURLWithPath: scratch.sub("config.json")))
        #expect(try CredentialStore.standard(flags: [], environment: ["DOCKER_CONFIG": scratch.path]).credential(for: "x.io") == nil)
    }
}
