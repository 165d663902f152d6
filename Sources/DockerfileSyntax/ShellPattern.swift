// Glob patterns of `${v#p}`, `${v%p}` and `${v/p/r}`: `*`, `?`, `\*`, `\?`, `\\` — nothing else.
// BuildKit turns them into Go regexps; this matcher gives the same (Perl-preference) matches:
// `*` prefers the longest run when greedy and the shortest otherwise, and neither `*` nor `?`
// crosses a newline (Go's `.` does not match `\n`).

struct ShellPatternError: Error { var message: String }

struct ShellPattern {
    enum Token: Equatable { case literal(Unicode.Scalar), any, star }
    let tokens: [Token]

    init(_ pattern: String) throws(ShellPatternError) {
        var tokens: [Token] = []
        let chars = Array(pattern.unicodeScalars)
        var i = 0
        while i < chars.count {
            let c = chars[i]
            i += 1
            switch c {
            case "*": tokens.append(.star)
            case "?": tokens.append(.any)
            case "\\":
                if i < chars.count && (chars[i] == "}" || chars[i] == "/") { continue }
                guard i < chars.count else { throw ShellPatternError(message: "invalid escape '\\\u{FFFD}'") }
                let e = chars[i]
                i += 1
                guard e == "*" || e == "?" || e == "\\" else {
                    throw ShellPatternError(message: "invalid escape '\\\(e)'")
                }
                tokens.append(.literal(e))
            default: tokens.append(.literal(c))
            }
        }
        self.tokens = tokens
    }

    private init(tokens: [Token]) { self.tokens = tokens }

    /// `${v#p}` / `${v##p}`.
    func removingPrefix(from value: String, greedy: Bool) -> String {
        let subject = Array(value.unicodeScalars)
        var matcher = Matcher(tokens: tokens, subject: subject, greedy: greedy)
        guard let end = matcher.match(from: 0) else { return value }
        return String(String.UnicodeScalarView(subject[end...]))
    }

    /// `${v%p}` / `${v%%p}`: the prefix rule on the reversed pattern and value, as BuildKit does it.
    func removingSuffix(from value: String, greedy: Bool) -> String {
        let reversed = ShellPattern(tokens: tokens.reversed())
        let subject = Array(value.unicodeScalars.reversed())
        var matcher = Matcher(tokens: reversed.tokens, subject: subject, greedy: greedy)
        guard let end = matcher.match(from: 0) else { return value }
        return String(String.UnicodeScalarView(subject[end...].reversed()))
    }

    /// `${v/p/r}`: the leftmost match is replaced by `r` literally.
    func replacingFirst(in value: String, with replacement: String) -> String {
        let subject = Array(value.unicodeScalars)
        var matcher = Matcher(tokens: tokens, subject: subject, greedy: true)
        for start in 0...subject.count {
            if let end = matcher.match(from: start) {
                var out = String(String.UnicodeScalarView(subject[..<start]))
                out += replacement
                out.unicodeScalars.append(contentsOf: subject[end...])
                return out
            }
        }
        return value
    }

    /// `${v//p/r}`: every non-overlapping match replaced, with Go's rules for empty matches and
    /// Go's replacement template (`$0`/`${0}` is the match, `$$` a dollar, other `$name` empty).
    func replacingAll(in value: String, with replacement: String) -> String {
        let subject = Array(value.unicodeScalars)
        var matcher = Matcher(tokens: tokens, subject: subject, greedy: true)
        var out = String.UnicodeScalarView()
        var lastMatchEnd = 0
        var pos = 0
        var prevMatchEnd = -1
        while pos <= subject.count {
            var found: (Int, Int)?
            for start in pos...subject.count {
                if let end = matcher.match(from: start) { found = (start, end); break }
            }
            guard let (mStart, mEnd) = found else { break }
            var accept = true
            if mEnd == pos {  // an empty match right here
                if mStart == prevMatchEnd { accept = false }
                pos += 1
            } else {
                pos = mEnd
            }
            prevMatchEnd = mEnd
            guard accept else { continue }
            out.append(contentsOf: subject[lastMatchEnd..<mStart])
            if mEnd > lastMatchEnd || mStart == 0 {
                out.append(contentsOf: ShellPattern.expandTemplate(replacement, match: subject[mStart..<mEnd]).unicodeScalars)
            }
            lastMatchEnd = mEnd
        }
        out.append(contentsOf: subject[lastMatchEnd...])
        return String(out)
    }

    /// Go's `Regexp.Expand` for a regexp without capture groups.
    static func expandTemplate(_ template: String, match: ArraySlice<Unicode.Scalar>) -> String {
        let t = Array(template.unicodeScalars)
        var out = String.UnicodeScalarView()
        var i = 0
        while i < t.count {
            guard t[i] == "$" else { out.append(t[i]); i += 1; continue }
            i += 1
            if i < t.count && t[i] == "$" { out.append("$"); i += 1; continue }
            // extract(): optional brace, then letters/digits/underscore.
            var j = i
            let brace = j < t.count && t[j] == "{"
            if brace { j += 1 }
            let nameStart = j
            while j < t.count && (GoChars.isLetter(t[j]) || GoChars.isDigit(t[j]) || t[j] == "_") { j += 1 }
            let name = t[nameStart..<j]
            if name.isEmpty || (brace && (j >= t.count || t[j] != "}")) {
                out.append("$")  // malformed: the dollar is kept as text
                continue
            }
            if brace { j += 1 }
            i = j
            if name.count == 1 && name.first == "0" { out.append(contentsOf: match) }
        }
        return String(out)
    }
}

/// Backtracking matcher with memoisation: the preferred end from a (token, position) state
/// depends only on that state, so every state is solved once.
private struct Matcher {
    let tokens: [ShellPattern.Token]
    let subject: [Unicode.Scalar]
    let greedy: Bool
    var memo: [Int: Int] = [:]

    init(tokens: [ShellPattern.Token], subject: [Unicode.Scalar], greedy: Bool) {
        self.tokens = tokens; self.subject = subject; self.greedy = greedy
    }

    mutating func match(from start: Int) -> Int? { solve(0, start) }

    private mutating func solve(_ t: Int, _ s: Int) -> Int? {
        if t == tokens.count { return s }
        let key = t &* (subject.count + 1) &+ s
        if let cached = memo[key] { return cached < 0 ? nil : cached }
        var result: Int?
        switch tokens[t] {
        case .literal(let c):
            if s < subject.count && subject[s] == c { result = solve(t + 1, s + 1) }
        case .any:
            if s < subject.count && subject[s] != "\n" { result = solve(t + 1, s + 1) }
        case .star:
            var limit = s
            while limit < subject.count && subject[limit] != "\n" { limit += 1 }
            if greedy {
                var k = limit
                while k >= s { if let r = solve(t + 1, k) { result = r; break }; k -= 1 }
            } else {
                var k = s
                while k <= limit { if let r = solve(t + 1, k) { result = r; break }; k += 1 }
            }
        }
        memo[key] = result ?? -1
        return result
    }
}
