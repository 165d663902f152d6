// libFuzzer entry point for `.dockerignore` files (they come with the build context): patterns
// parsed, then matched against paths taken from the same input (built by scripts/fuzz.sh).
// Property: any file parses; matching never traps and stays fast (libFuzzer's -timeout).
@testable import BuildPlan

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzDockerIgnore(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let ignore = DockerIgnore(text: text)
    // The lines double as paths: a pattern meets the paths that look most like it.
    for line in text.split(whereSeparator: \.isNewline).prefix(32) {
        let path = String(line)
        _ = ignore.excludes(path)
        _ = ignore.mayMatch(below: path, exceptions: true)
        _ = ignore.mayMatch(below: path, exceptions: false)
    }
    return 0
}
