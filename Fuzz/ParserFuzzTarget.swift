// libFuzzer entry point for the Dockerfile front end (built by scripts/fuzz.sh with
// `swiftc -sanitize=fuzzer,address` against Sources/DockerfileSyntax).
// Property: any input parses or fails with a positioned error; expansion never traps.
@testable import DockerfileSyntax

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let file = try DockerfileParser.parse(bytes: bytes, path: "fuzz")
        for node in file.nodes {
            precondition(node.startLine >= 1 && node.startLine <= node.endLine, "bad line range")
            for word in node.arguments.prefix(8) {
                _ = try? ShellLexer().expand(word, lookup: { $0.count == 1 ? "v w" : nil })
                _ = try? ShellLexer(escapeToken: "`").expandWords(word, lookup: { _ in nil })
            }
            _ = SyntaxJSON.object(node)
        }
    } catch {
        precondition(error.position.line >= 1 && error.position.column >= 1, "error without a position")
    }
    return 0
}
