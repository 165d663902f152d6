// libFuzzer entry point for what a registry sends about an image: manifest and index documents
// (decoded, a platform picked, layers checked, as ImagePuller does) and the image config blob
// (built by scripts/fuzz.sh).
// Property: any document decodes or fails with a RegistryError; nothing traps.
@testable import Registry

private let puller = ImagePuller(options: RegistryOptions(), cache: BlobCache(directory: "/nonexistent"),
                                 platform: Platform(architecture: "amd64", os: "linux"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let doc = try? puller.decode(bytes, source: "fuzz") {
        if let chosen = try? puller.select(from: doc, source: "fuzz") { _ = try? validateDigest(chosen.digest, what: "fuzz") }
        var warnings: [String] = []
        _ = try? puller.usableLayers(doc, source: "fuzz", warnings: &warnings)
        if let config = doc.config { _ = try? validateDigest(config.digest, what: "fuzz") }
    }
    if let config = try? ImageConfigBlob(raw: bytes) {
        _ = config.containerConfigJSON
        var warnings: [String] = []
        puller.checkPlatform(config, source: "fuzz", warnings: &warnings)
    }
    _ = try? Platform(String(decoding: bytes.prefix(256), as: UTF8.self))
    return 0
}
