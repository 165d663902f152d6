// libFuzzer entry point for git's pkt-line framing from an untrusted server: the ref
// advertisement (GitFetch.parseAdvertisement) and the upload-pack response demultiplexer
// (UploadPackStream), fed in pieces as the network delivers them (built by scripts/fuzz.sh).
// Property: any response parses or fails with a GitError; nothing traps.
@testable import GitSource
#if canImport(Glibc)
import Glibc
#endif

private let devNull = open("/dev/null", O_WRONLY | O_CLOEXEC)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPktLines(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    _ = try? GitFetch.parseAdvertisement(bytes)
    _ = try? GitFetch.pktLines(bytes)
    // The first byte picks side-band or not and the size of the pieces the stream arrives in.
    guard let first = bytes.first else { return 0 }
    var stream = UploadPackStream(fd: devNull, sideBand: first & 1 == 1)
    let piece = Int(first >> 1) + 1
    var i = 1
    while i < bytes.count {
        let end = min(bytes.count, i + piece)
        let ok = bytes[i..<end].withUnsafeBytes { stream.feed($0) }
        if !ok {
            precondition(stream.failure != nil, "the stream stopped without saying why")
            break
        }
        i = end
    }
    return 0
}
