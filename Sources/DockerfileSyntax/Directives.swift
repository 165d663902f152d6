// Parser directives (`# syntax=`, `# escape=`, `# check=`): only in the leading run of lines that
// are valid known directives; the first line that is not one ends the scan for good.

struct DirectiveScanner {
    static let known: Set<String> = ["syntax", "escape", "check"]
    private(set) var done = false
    private var seen = Set<String>()

    /// Looks at one physical line (newline already trimmed). Returns a directive, nil, or throws
    /// for a repeated directive.
    mutating func scan(_ line: ArraySlice<UInt8>, lineNumber: Int) throws(LocalError) -> Directive? {
        guard !done else { return nil }
        guard let hash = line.first, hash == UInt8(ascii: "#") else { done = true; return nil }
        let body = line.dropFirst().trimmingLeadingGoSpace()
        guard let (key, value) = DirectiveScanner.match(body) else { done = true; return nil }
        let name = key.lowercased()
        guard DirectiveScanner.known.contains(name) else { done = true; return nil }
        guard seen.insert(name).inserted else {
            throw LocalError("only one \(name) parser directive can be used")
        }
        return Directive(name: name, value: value, line: lineNumber)
    }

    /// Go regexp `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` where `\s` is `[\t\n\f\r ]`.
    static func match(_ s: ArraySlice<UInt8>) -> (String, String)? {
        func isAlpha(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        func isWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0C || c == 0x0D }
        var i = s.startIndex
        guard i < s.endIndex, isAlpha(s[i]) else { return nil }
        while i < s.endIndex && (isAlpha(s[i]) || isDigit(s[i])) { i += 1 }
        let key = String(decoding: s[s.startIndex..<i], as: UTF8.self)
        while i < s.endIndex && isWS(s[i]) { i += 1 }
        guard i < s.endIndex, s[i] == UInt8(ascii: "=") else { return nil }
        i += 1
        let rest = s[i...]
        guard !rest.isEmpty else { return nil }
        var start = rest.startIndex
        while start < rest.endIndex && isWS(rest[start]) { start += 1 }
        if start == rest.endIndex {
            // Only blanks: the lazy `.+?` still takes the last one.
            return (key, String(decoding: rest[(rest.endIndex - 1)...], as: UTF8.self))
        }
        var end = rest.endIndex
        while end > start && isWS(rest[end - 1]) { end -= 1 }
        return (key, String(decoding: rest[start..<end], as: UTF8.self))
    }
}
