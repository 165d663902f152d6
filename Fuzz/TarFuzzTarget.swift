// libFuzzer entry point for layer tarballs (a base image's layers are untrusted): TarReader over
// libarchive, every entry's header and data read to the end, as LayerStack does (built by
// scripts/fuzz.sh; libarchive itself is loaded with dlopen and not instrumented).
// Property: any archive reads or fails with a LayerError; nothing traps in our side of the reader.
import Layers

private let input = InputFile("layer")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTar(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    input.write(data, size)
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
    defer { buffer.deallocate() }
    do {
        let reader = try TarReader(path: input.path, name: "fuzz")
        var entries = 0
        while let entry = try reader.next() {
            entries += 1
            precondition(!entry.path.contains(0), "a NUL inside a path")
            _ = entry.pathString
            while try reader.read(into: buffer) > 0 {}
        }
        let digest = try reader.finish()
        precondition(digest.hasPrefix("sha256:") && digest.count == 71, "bad digest \(digest)")
    } catch {
        precondition(!error.message.isEmpty, "an error without a message")
    }
    return 0
}
