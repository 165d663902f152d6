// .dockerignore matching against hostile patterns (the file comes with the build context): the
// answers of the exhaustive matcher, in time linear in pattern × path instead of exponential.
@testable import BuildPlan
import Foundation
import Testing

/// The matcher as it was before (44e3af7): every split tried for every star, exponential, but
/// the obvious reading of filepath.Match; the new one must answer as it does.
private func referenceGlob(_ p: ArraySlice<Unicode.Scalar>, _ s: ArraySlice<Unicode.Scalar>) -> Bool {
    var p = p, s = s
    while let c = p.first {
        switch c {
        case "*":
            let rest = p.dropFirst()
            for k in s.startIndex...s.endIndex where referenceGlob(rest, s[k...]) { return true }
            return false
        case "?":
            guard !s.isEmpty else { return false }
            p = p.dropFirst(); s = s.dropFirst()
        case "[":
            guard let ch = s.first, let close = p.dropFirst().firstIndex(of: "]") else { return false }
            var set = p[(p.startIndex + 1)..<close]
            var negate = false
            if let f = set.first, f == "^" || f == "!" { negate = true; set = set.dropFirst() }
            var matched = false
            var i = set.startIndex
            while i < set.endIndex {
                if i + 2 < set.endIndex, set[i + 1] == "-" {
                    if set[i].value <= ch.value && ch.value <= set[i + 2].value { matched = true }
                    i += 3
                } else {
                    if set[i] == ch { matched = true }
                    i += 1
                }
            }
            guard matched != negate else { return false }
            p = p[(close + 1)...]; s = s.dropFirst()
        case "\\":
            let q = p.dropFirst()
            guard let lit = q.first, s.first == lit else { return false }
            p = q.dropFirst(); s = s.dropFirst()
        default:
            guard s.first == c else { return false }
            p = p.dropFirst(); s = s.dropFirst()
        }
    }
    return s.isEmpty
}

/// Component matching as it was before: every split tried for every `**`.
private func referenceMatch(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
    guard let first = pattern.first else { return path.isEmpty }
    if first == "**" {
        for k in path.startIndex...path.endIndex where referenceMatch(pattern.dropFirst(), path[k...]) { return true }
        return false
    }
    guard let head = path.first, referenceGlob(Array(first.unicodeScalars)[...], Array(head.unicodeScalars)[...]) else { return false }
    return referenceMatch(pattern.dropFirst(), path.dropFirst())
}

@Suite struct DockerIgnoreMatching {
    @Test func theFuzzersTimeoutInputIsAnsweredAtOnce() {
        // Found by the dockerignore fuzzer (timeout after 10 s; minutes with longer lines).
        let hex =
            "2a2a5b2a2a2a5d2a2a2aaa2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a612d7a5d3f2e69722c5c5c5c5c5c5c5c5c5c5c5c5c2f2a2a2e782f790a7478740a8a5c73"
        let bytes = stride(from: 0, to: hex.count, by: 2).map { UInt8(hex.dropFirst($0).prefix(2), radix: 16)! }
        let text = String(decoding: bytes, as: UTF8.self)
        let ignore = DockerIgnore(text: text)
        let start = ContinuousClock.now
        for line in text.split(whereSeparator: \.isNewline) { _ = ignore.excludes(String(line)) }
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func manyStarsAndDoubleStarsMatchInBoundedTime() {
        let start = ContinuousClock.now
        let stars = String(repeating: "*a", count: 30) + "*b"
        #expect(!DockerIgnore(text: stars).excludes(String(repeating: "a", count: 200)))
        #expect(DockerIgnore(text: stars).excludes(String(repeating: "a", count: 200) + "b"))
        let deep = Array(repeating: "**", count: 40).joined(separator: "/") + "/x"
        let path = Array(repeating: "d", count: 60).joined(separator: "/")
        #expect(!DockerIgnore(text: deep).excludes(path + "/y"))
        #expect(DockerIgnore(text: deep).excludes(path + "/x"))
        #expect(ContinuousClock.now - start < .seconds(1))
    }

    @Test func answersAreTheExhaustiveMatchersOnRandomPatterns() {
        // Small alphabets so that stars, classes and escapes meet often.
        let patternAlphabet: [Unicode.Scalar] = ["a", "b", "*", "?", "[", "]", "!", "-", "\\"]
        let nameAlphabet: [Unicode.Scalar] = ["a", "b", "-", "]", "\\", "*"]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let p = (0..<Int.random(in: 0...7, using: &random)).map { _ in patternAlphabet.randomElement(using: &random)! }
            let s = (0..<Int.random(in: 0...7, using: &random)).map { _ in nameAlphabet.randomElement(using: &random)! }
            let expected = referenceGlob(p[...], s[...])
            let got = DockerIgnore.glob(p[...], s[...])
            #expect(
                got == expected,
                "\(String(String.UnicodeScalarView(p)).debugDescription) vs \(String(String.UnicodeScalarView(s)).debugDescription)")
            if got != expected { break }
        }
    }

    @Test func componentAnswersAreTheExhaustiveMatchersOnRandomPaths() {
        let components = ["**", "a", "*", "b?", "[ab]"], names = ["a", "b", "ab", "ba"]
        var random = SystemRandomNumberGenerator()
        for _ in 0..<20_000 {
            let p = (0..<Int.random(in: 0...6, using: &random)).map { _ in components.randomElement(using: &random)! }
            let s = (0..<Int.random(in: 0...6, using: &random)).map { _ in names.randomElement(using: &random)! }
            let expected = referenceMatch(p[...], s[...])
            #expect(DockerIgnore.match(p[...], s[...]) == expected, "\(p) vs \(s)")
            if DockerIgnore.match(p[...], s[...]) != expected { break }
        }
    }
}
