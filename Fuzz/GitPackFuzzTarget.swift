// libFuzzer entry point for git packfiles from an untrusted server (ADD of a git URL): PackFile
// indexes the pack, resolves deltas and builds every object, as a checkout does (built by
// scripts/fuzz.sh). The input is the pack without its SHA-1 trailer: the target appends the
// right one, so the fuzzer explores the objects rather than the checksum.
// Property: any pack indexes or fails with a GitError; nothing traps, hangs or allocates without bound.
import Crypto
@testable import GitSource
#if canImport(Glibc)
import Glibc
#endif

private let input = InputFile("pack")
/// GVMC_FUZZ_SKIP_OBJECT_COUNT=1 skips packs whose header claims more objects than their bytes can
/// hold (at least 2 bytes each); PackFile refuses those itself now (it reserved memory for the
/// claimed count before: Fuzz/reproducers/gitpack-object-count-oom.pack, a regression input).
private let skipImpossibleCounts = getenv("GVMC_FUZZ_SKIP_OBJECT_COUNT") != nil

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzGitPack(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // Shorter than a pack header: nothing for the index to read.
    guard size >= 12 else { return 0 }
    if skipImpossibleCounts {
        let count = Int(data[8]) << 24 | Int(data[9]) << 16 | Int(data[10]) << 8 | Int(data[11])
        if count > (size - 12) / 2 { return 0 }
    }
    let body = UnsafeRawBufferPointer(start: data, count: size)
    let trailer = Array(Insecure.SHA1.hash(data: body))
    let fd = input.write(data, size, suffix: trailer, keepOpen: true)
    // PackFile owns the descriptor from here (it closes it).
    do {
        let pack = try PackFile(fd: fd, cacheLimit: 1 << 20)
        for entry in pack.entries() {
            guard let object = try pack.object(entry.id) else { preconditionFailure("an indexed object cannot be built") }
            precondition(PackFile.id(type: object.type, object.data) == entry.id, "an object's id does not match its content")
        }
    } catch {
        precondition(!"\(error)".isEmpty)
    }
    return 0
}
