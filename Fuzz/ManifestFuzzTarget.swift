// libFuzzer entry point for what a registry sends about an image: manifest and index documents
// (decoded as ImageSpec's types, a platform picked, layers checked, as ImagePuller does) and the
// image config blob (built by scripts/fuzz.sh).
// Property: any document decodes or fails with a RegistryError or ImageSpecError; nothing traps.
import ImageSpec
@testable import Registry

private let puller = ImagePuller(
    options: RegistryOptions(), cache: BlobCache(directory: "/nonexistent"),
    platform: Platform(architecture: "amd64", os: "linux"))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzManifest(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch try? puller.manifest(bytes, type: nil, source: "fuzz") {
    case .index(let index):
        if let chosen = try? puller.select(from: index, source: "fuzz") { _ = try? validateDigest(chosen.digest, what: "fuzz") }
    case .image(let manifest):
        var warnings: [String] = []
        _ = try? puller.usableLayers(manifest, source: "fuzz", warnings: &warnings)
        _ = try? validateDigest(manifest.config.digest, what: "fuzz")
    case .other, nil:
        break
    }
    if let config = try? Verbatim<ImageConfiguration>(decoding: bytes, document: "fuzz") {
        _ = config.value.trailerConfig.trailerJSON()
        var warnings: [String] = []
        puller.checkPlatform(config.value, source: "fuzz", warnings: &warnings)
    }
    _ = try? Platform(String(decoding: bytes.prefix(256), as: UTF8.self))
    return 0
}
