// libFuzzer entry point for image references (FROM lines, --from, CLI arguments): parsing and
// normalisation (built by scripts/fuzz.sh).
// Property: any text parses or fails with a ReferenceError; a parsed reference printed and parsed
// again is the same reference.
@testable import Registry

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzReference(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let reference = try? ImageReference(text) else { return 0 }
    let again: ImageReference
    do { again = try ImageReference(reference.description) } catch {
        preconditionFailure(
            "\(text.debugDescription) parses, but its description \(reference.description.debugDescription) does not: \(error)")
    }
    precondition(again == reference, "\(text.debugDescription) → \(reference) → \(again)")
    _ = reference.manifestReference
    return 0
}
