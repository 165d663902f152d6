// Finding heredoc markers (`<<EOF`, `<<-"EOF"`, `3<<EOF`) in a logical line, as BuildKit does:
// split the whole line into shell words with quotes and escapes kept, and take the words that
// *start* with `[digits]<<[-]`. Grammar: grammar/dockerfile.ebnf (`heredoc-marker`).

public struct HeredocMarker: Equatable, Sendable {
    public var name: String
    public var fileDescriptor: Int
    public var expand: Bool
    public var chomp: Bool

    static func find(in line: String) throws(LocalError) -> [HeredocMarker] {
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
        return HeredocMarker(name: names[0], fileDescriptor: Int(digits) ?? 0,
                             expand: quotes(names[0]) == quotes(rawNames[0]), chomp: chomp)
    }
}

/// Recognises a single argument word as a heredoc marker (BuildKit's `MustParseHeredoc`).
public enum HeredocWord {
    public static func parse(_ word: String) -> HeredocMarker? {
        (try? HeredocMarker.parse(word)) ?? nil
    }
}
