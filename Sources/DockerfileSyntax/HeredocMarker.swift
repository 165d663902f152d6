// Finding heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) in a logical line, as BuildKit does:
// split the whole line into shell words with quotes and escapes kept, and take the words that
// *start* with `[digits]<<[-]`. Grammar: grammar/dockerfile.ebnf (`heredoc-marker`).

/// A heredoc marker found on an instruction line (`<<EOF`, `<<-EOF`, `3<<"EOF"`).
public struct HeredocMarker: Equatable, Sendable {
    public var name: String
    public var fileDescriptor: Int
    public var expand: Bool
    public var chomp: Bool

    static func find(in line: String) throws(LocalError) -> [HeredocMarker] {
        // Without `${...}` the raw-mode lexer only splits words (see rawWords); with it, the
        // lexer's own quirks matter, so it runs in full.
        if !containsBraceExpansion(line) {
            guard let words = rawWords(line) else { return [] }
            var markers: [HeredocMarker] = []
            for word in words {
                if let m = try parse(word) { markers.append(m) }
            }
            return markers
        }
        var lexer = ShellLexer(escapeToken: "\\")
        lexer.rawQuotes = true
        lexer.rawEscapes = true
        lexer.skipUnsetEnv = true
        // A lexing error means "no heredocs", as in BuildKit.
        guard let words = try? lexer.expandWords(line, lookup: { _ in nil }) else { return [] }
        var markers: [HeredocMarker] = []
        for word in words {
            if let m = try parse(word) { markers.append(m) }
        }
        return markers
    }

    /// Matches `^(\d*)<<(-?)\s*([^<]*)$` and resolves the name (`\s` is Go's `[\t\n\f\r ]`).
    static func parse(_ word: String) throws(LocalError) -> HeredocMarker? {
        // Cheap rejection first: a marker starts with a digit or "<".
        guard let first = word.utf8.first, first == UInt8(ascii: "<") || (first >= 0x30 && first <= 0x39) else {
            return nil
        }
        let s = Array(word.unicodeScalars)
        var i = 0
        while i < s.count && s[i].value >= 0x30 && s[i].value <= 0x39 { i += 1 }
        let digits = String(String.UnicodeScalarView(s[0..<i]))
        guard i + 1 < s.count, s[i] == "<", s[i + 1] == "<" else { return nil }
        i += 2
        var chomp = false
        if i < s.count && s[i] == "-" { chomp = true; i += 1 }
        while i < s.count, s[i] == "\t" || s[i] == "\n" || s[i] == "\u{0C}" || s[i] == "\r" || s[i] == " " { i += 1 }
        let restScalars = s[i...]
        if restScalars.contains("<") { return nil }
        if restScalars.isEmpty { return nil }
        let rest = String(String.UnicodeScalarView(restScalars))
        if !restScalars.contains(where: { $0 == "'" || $0 == "\"" || $0 == "\\" || $0 == "$" }) {
            // Nothing to unquote or expand: the word is its own name.
            return HeredocMarker(name: rest, fileDescriptor: Int(digits) ?? 0, expand: true, chomp: chomp)
        }

        var lexer = ShellLexer(escapeToken: "\\")
        lexer.skipUnsetEnv = true
        let names: [String]
        do { names = try lexer.expandWords(rest, lookup: { _ in nil }) } catch { throw LocalError(error.message) }
        guard names.count == 1 else { return nil }
        lexer.rawQuotes = true
        let rawNames: [String]
        do { rawNames = try lexer.expandWords(rest, lookup: { _ in nil }) } catch { throw LocalError(error.message) }
        guard rawNames.count == names.count else {
            throw LocalError("internal lexing of heredoc produced inconsistent results: \(rest)")
        }
        func quotes(_ s: String) -> Int { s.unicodeScalars.filter { $0 == "'" || $0 == "\"" }.count }
        return HeredocMarker(
            name: names[0], fileDescriptor: Int(digits) ?? 0,
            expand: quotes(names[0]) == quotes(rawNames[0]), chomp: chomp)
    }
}

/// Whether `line` holds `${` (a byte scan; `String.contains` is far slower here).
func containsBraceExpansion(_ line: String) -> Bool {
    var previousDollar = false
    for b in line.utf8 {
        if previousDollar && b == UInt8(ascii: "{") { return true }
        previousDollar = b == UInt8(ascii: "$")
    }
    return false
}

extension HeredocMarker {
    /// The words ShellLexer (raw quotes, raw escapes, unset variables kept) produces for a line
    /// without `${`: text is kept as written and split at unquoted, unescaped blanks. nil where
    /// the lexer would fail (an unterminated quote).
    static func rawWords(_ line: String) -> [String]? {
        let s = Array(line.unicodeScalars)
        var words: [String] = []
        var current = String.UnicodeScalarView()
        var inWord = false
        var i = s.first == "\u{FEFF}" ? 1 : 0
        func addRaw(_ slice: ArraySlice<Unicode.Scalar>) { current.append(contentsOf: slice); inWord = true }
        while i < s.count {
            let c = s[i]
            switch c {
            case "'":
                guard let close = s[(i + 1)...].firstIndex(of: "'") else { return nil }
                addRaw(s[i...close]); i = close + 1
            case "\"":
                // As the lexer does with raw escapes: an escape before `"`, `$` or `\\` keeps both
                // characters; before anything else it is written twice (a BuildKit quirk).
                var quoted: [Unicode.Scalar] = ["\""]
                var j = i + 1
                var closed = false
                while j < s.count {
                    if s[j] == "\"" { closed = true; break }
                    if s[j] == "\\" {
                        guard j + 1 < s.count else { return nil }
                        if s[j + 1] == "\"" || s[j + 1] == "$" || s[j + 1] == "\\" {
                            quoted += [s[j], s[j + 1]]; j += 2
                        } else {
                            quoted += ["\\", "\\"]; j += 1
                        }
                        continue
                    }
                    quoted.append(s[j]); j += 1
                }
                guard closed else { return nil }
                quoted.append("\"")
                addRaw(quoted[...]); i = j + 1
            case "\\":
                addRaw(s[i..<min(i + 2, s.count)]); i += 2
            case "<":
                var j = i + 1
                if j < s.count && s[j] == "<" {
                    j += 1
                    while j < s.count && (s[j] == "\t" || s[j] == "\r" || s[j] == " ") { j += 1 }
                }
                addRaw(s[i..<j]); i = j
            default:
                if GoChars.isSpace(c) {
                    if inWord && !current.isEmpty { words.append(String(current)); current = String.UnicodeScalarView(); inWord = false }
                } else {
                    current.append(c); inWord = true
                }
                i += 1
            }
        }
        if !current.isEmpty { words.append(String(current)) }
        return words
    }
}

/// Recognises a single argument word as a heredoc marker (BuildKit's `MustParseHeredoc`).
public enum HeredocWord {
    public static func parse(_ word: String) -> HeredocMarker? {
        (try? HeredocMarker.parse(word)) ?? nil
    }
}
