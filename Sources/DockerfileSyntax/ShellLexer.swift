// The shell-word expander: `$v`, `${v:-w}`, quotes and escapes, exactly as BuildKit's shell lexer.
// Grammar: grammar/dockerfile.ebnf (`word`, `expansion`). Used by later stages per instruction and,
// with raw quotes/escapes, by the parser itself to find heredoc markers.

/// Looks up a variable; nil when it is not set.
public typealias VariableLookup = (String) -> String?

/// An expansion error, with the message BuildKit gives (`failed to process "...": ...`).
public struct ExpansionError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public var description: String { message }
}

/// The result of expanding one word.
public struct ExpansionResult: Sendable {
    public var value: String
    /// Words after splitting (for EXPOSE and friends).
    public var words: [String]
    /// Variables that were looked up and found, and those that were not (for UndefinedVar).
    public var matched: Set<String>
    public var unmatched: Set<String>
}

/// Expands shell words the way BuildKit's `shell.Lex` does.
public struct ShellLexer: Sendable {
    public var escapeToken: Unicode.Scalar
    /// Keep quote characters in the output (the parser's heredoc detection).
    public var rawQuotes = false
    /// Keep escape characters in the output.
    public var rawEscapes = false
    /// Leave unset variables as written instead of expanding them to nothing.
    public var skipUnsetEnv = false
    /// Treat quotes as ordinary characters (COPY heredoc bodies).
    public var skipProcessQuotes = false

    public init(escapeToken: Unicode.Scalar = "\\") { self.escapeToken = escapeToken }

    /// Expands `word` as one word (blanks kept).
    public func expand(_ word: String, lookup: @escaping VariableLookup) throws(ExpansionError) -> ExpansionResult {
        var state = LexState(lexer: self, source: word, lookup: lookup)
        return try state.run(word)
    }

    /// Expands `word` and splits the result into words (unquoted blanks separate words).
    public func expandWords(_ word: String, lookup: @escaping VariableLookup) throws(ExpansionError) -> [String] {
        var state = LexState(lexer: self, source: word, lookup: lookup)
        return try state.run(word).words
    }

    /// Convenience: expansion with a dictionary environment.
    public func expand(_ word: String, environment: [String: String]) throws(ExpansionError) -> String {
        try expand(word, lookup: { environment[$0] }).value
    }
}

/// Word accumulation for word-splitting mode. BuildKit shares one buffer between nested
/// `${...}` scans (each scan resets it); the quirk is kept so words match BuildKit's.
private struct WordSplitter {
    var words: [String] = []
    var inWord = false

    mutating func addChar(_ c: Unicode.Scalar, _ buffer: inout String) {
        if GoChars.isSpace(c) {
            if inWord && !buffer.isEmpty {
                words.append(buffer); buffer = ""; inWord = false
            }
        } else {
            buffer.unicodeScalars.append(c); inWord = true
        }
    }
    mutating func addRawChar(_ c: Unicode.Scalar, _ buffer: inout String) {
        buffer.unicodeScalars.append(c); inWord = true
    }
    mutating func addString(_ s: String, _ buffer: inout String) {
        for c in s.unicodeScalars { addChar(c, &buffer) }
    }
    mutating func addRawString(_ s: String, _ buffer: inout String) {
        buffer += s; inWord = true
    }
    mutating func finish(_ buffer: inout String) -> [String] {
        if !buffer.isEmpty { words.append(buffer); buffer = ""; inWord = false }
        return words
    }
}

private struct LexState {
    let lexer: ShellLexer
    let source: String
    let lookup: VariableLookup
    var chars: [Unicode.Scalar]
    var pos = 0
    var rawEscapes: Bool
    var wordsBuffer = ""
    var matched = Set<String>()
    var unmatched = Set<String>()

    init(lexer: ShellLexer, source: String, lookup: @escaping VariableLookup) {
        self.lexer = lexer
        self.source = source
        self.lookup = lookup
        var scalars = Array(source.unicodeScalars)
        // Go's text/scanner drops a byte order mark at the very start.
        if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
        self.chars = scalars
        self.rawEscapes = lexer.rawEscapes
    }

    var peek: Unicode.Scalar? { pos < chars.count ? chars[pos] : nil }
    mutating func next() -> Unicode.Scalar? {
        guard pos < chars.count else { return nil }
        defer { pos += 1 }
        return chars[pos]
    }

    mutating func run(_ word: String) throws(ExpansionError) -> ExpansionResult {
        do {
            let (value, words) = try processStopOn(nil, rawEscapes: lexer.rawEscapes)
            return ExpansionResult(value: value, words: words, matched: matched, unmatched: unmatched)
        } catch {
            throw ExpansionError(message: "failed to process \(goQuote(source)): \(error.message)")
        }
    }

    mutating func processStopOn(_ stop: Unicode.Scalar?, rawEscapes newRaw: Bool) throws(ExpansionError) -> (String, [String]) {
        var result = ""
        wordsBuffer = ""
        var words = WordSplitter()
        let savedRaw = rawEscapes
        rawEscapes = newRaw
        defer { rawEscapes = savedRaw }
        let escape = lexer.escapeToken

        while let ch = peek {
            if let stop, ch == stop {
                pos += 1
                return (result, words.finish(&wordsBuffer))
            }
            switch ch {
            case "$":
                let tmp = try processDollar()
                result += tmp
                words.addString(tmp, &wordsBuffer)
                continue
            case "<":
                let tmp = processPossibleHeredoc()
                result += tmp
                words.addRawString(tmp, &wordsBuffer)
                continue
            case "'" where !lexer.skipProcessQuotes:
                let tmp = try processSingleQuote()
                result += tmp
                words.addRawString(tmp, &wordsBuffer)
                continue
            case "\"" where !lexer.skipProcessQuotes:
                let tmp = try processDoubleQuote()
                result += tmp
                words.addRawString(tmp, &wordsBuffer)
                continue
            default:
                break
            }
            var c = next()!
            if c == escape {
                if rawEscapes {
                    words.addRawChar(c, &wordsBuffer)
                    result.unicodeScalars.append(c)
                }
                guard let escaped = next() else { break }
                c = escaped
                words.addRawChar(c, &wordsBuffer)
            } else {
                words.addChar(c, &wordsBuffer)
            }
            result.unicodeScalars.append(c)
        }
        if let stop {
            throw ExpansionError(message: "unexpected end of statement while looking for matching \(stop)")
        }
        return (result, words.finish(&wordsBuffer))
    }

    mutating func processSingleQuote() throws(ExpansionError) -> String {
        var result = ""
        let open = next()!
        if lexer.rawQuotes { result.unicodeScalars.append(open) }
        while true {
            guard let c = next() else {
                throw ExpansionError(message: "unexpected end of statement while looking for matching single-quote")
            }
            if c == "'" {
                if lexer.rawQuotes { result.unicodeScalars.append(c) }
                return result
            }
            result.unicodeScalars.append(c)
        }
    }

    mutating func processDoubleQuote() throws(ExpansionError) -> String {
        var result = ""
        let open = next()!
        if lexer.rawQuotes { result.unicodeScalars.append(open) }
        while true {
            guard let p = peek else {
                throw ExpansionError(message: "unexpected end of statement while looking for matching double-quote")
            }
            if p == "\"" {
                pos += 1
                if lexer.rawQuotes { result.unicodeScalars.append(p) }
                return result
            }
            if p == "$" {
                result += try processDollar()
                continue
            }
            var c = next()!
            if c == lexer.escapeToken {
                if rawEscapes { result.unicodeScalars.append(c) }
                guard let n = peek else { continue }
                if n == "\"" || n == "$" || n == lexer.escapeToken { c = next()! }
            }
            result.unicodeScalars.append(c)
        }
    }

    mutating func processDollar() throws(ExpansionError) -> String {
        pos += 1  // the '$'
        if peek != "{" {
            let name = processName()
            if name.isEmpty { return "$" }
            if let value = getEnv(name) { return value }
            return lexer.skipUnsetEnv ? "$" + name : ""
        }
        pos += 1  // the '{'
        switch peek {
        case nil: throw ExpansionError(message: "syntax error: missing '}'")
        case "{", "}", ":": throw ExpansionError(message: "syntax error: bad substitution")
        default: break
        }
        let name = processName()
        guard var ch = next() else {
            // Go's scanner yields EOF, which falls to the "unsupported modifier" branch.
            throw ExpansionError(message: "syntax error: missing '}'")
        }
        var modifier = String(ch)
        switch ch {
        case "}":
            if let value = getEnv(name) { return value }
            return lexer.skipUnsetEnv ? "${\(name)}" : ""
        case ":", "+", "-", "?", "#", "%":
            var nullIsUnset = false
            if ch == ":" {
                nullIsUnset = true
                // Whatever follows ':' falls through; an unknown one fails only after its word is read.
                ch = next() ?? "\u{FFFD}"
                modifier.unicodeScalars.append(ch)
            }
            let patternOp = ch == "#" || ch == "%"
            if nullIsUnset && patternOp {
                throw ExpansionError(message: "unsupported modifier (\(modifier)) in substitution")
            }
            let word: String
            do {
                word = try processStopOn("}", rawEscapes: patternOp).0
            } catch {
                if peek == nil { throw ExpansionError(message: "syntax error: missing '}'") }
                throw error
            }
            let value = getEnv(name)
            if lexer.skipUnsetEnv && value == nil { return "${\(name)\(modifier)\(word)}" }
            switch ch {
            case "-":
                if value == nil || (nullIsUnset && value == "") { return word }
                return value!
            case "+":
                if value == nil || (nullIsUnset && value == "") { return "" }
                return word
            case "?":
                guard let value else {
                    throw ExpansionError(message: "\(name): \(word.isEmpty ? "is not allowed to be unset" : word)")
                }
                if nullIsUnset && value.isEmpty {
                    throw ExpansionError(message: "\(name): \(word.isEmpty ? "is not allowed to be empty" : word)")
                }
                return value
            case "#", "%":
                var pattern = word
                var greedy = false
                if pattern.unicodeScalars.first == ch {
                    greedy = true
                    pattern.unicodeScalars.removeFirst()
                }
                let compiled: ShellPattern
                do { compiled = try ShellPattern(pattern) } catch {
                    throw ExpansionError(message: "invalid pattern (\(pattern)) in substitution: \(error.message)")
                }
                let subject = value ?? ""
                return ch == "%"
                    ? compiled.removingSuffix(from: subject, greedy: greedy)
                    : compiled.removingPrefix(from: subject, greedy: greedy)
            default:
                throw ExpansionError(message: "unsupported modifier (\(modifier)) in substitution")
            }
        case "/":
            let replaceAll = peek == "/"
            if replaceAll { pos += 1 }
            let pattern: String
            do { pattern = try processStopOn("/", rawEscapes: true).0 } catch {
                if peek == nil { throw ExpansionError(message: "syntax error: missing '/' in ${}") }
                throw error
            }
            let replacement: String
            do { replacement = try processStopOn("}", rawEscapes: true).0 } catch {
                if peek == nil { throw ExpansionError(message: "syntax error: missing '}'") }
                throw error
            }
            let value = getEnv(name)
            if lexer.skipUnsetEnv && value == nil { return "${\(name)/\(pattern)/\(replacement)}" }
            let compiled: ShellPattern
            do { compiled = try ShellPattern(pattern) } catch {
                throw ExpansionError(message: "invalid pattern (\(pattern)) in substitution: \(error.message)")
            }
            let subject = value ?? ""
            return replaceAll
                ? compiled.replacingAll(in: subject, with: replacement)
                : compiled.replacingFirst(in: subject, with: replacement)
        default:
            throw ExpansionError(message: "unsupported modifier (\(modifier)) in substitution")
        }
    }

    mutating func processName() -> String {
        var name = ""
        while let c = peek {
            if name.isEmpty && GoChars.isDigit(c) {
                while let d = peek, GoChars.isDigit(d) { name.unicodeScalars.append(d); pos += 1 }
                return name
            }
            if name.isEmpty && "@*#?-$!0".unicodeScalars.contains(c) {
                pos += 1
                return String(c)
            }
            if !GoChars.isLetter(c) && !GoChars.isDigit(c) && c != "_" { break }
            name.unicodeScalars.append(c)
            pos += 1
        }
        return name
    }

    /// `<<` followed by blanks stays one word, so `<< EOF` is seen as a heredoc marker.
    mutating func processPossibleHeredoc() -> String {
        pos += 1
        guard peek == "<" else { return "<" }
        pos += 1
        var result = "<<"
        while let c = peek, c == "\t" || c == "\r" || c == " " {
            result.unicodeScalars.append(c)
            pos += 1
        }
        return result
    }

    mutating func getEnv(_ name: String) -> String? {
        if let v = lookup(name) {
            matched.insert(name)
            return v
        }
        unmatched.insert(name)
        return nil
    }
}

/// Go's `%q`, for messages that quote user text the way BuildKit does.
public enum GoQuote {
    public static func quote(_ s: String) -> String { goQuote(s) }
}

func goQuote(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\t": out += "\\t"
        case "\r": out += "\\r"
        default:
            if c.value < 0x20 || c.value == 0x7F {
                out += "\\x" + String(c.value, radix: 16).leftPadded(to: 2)
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out + "\""
}

extension String {
    func leftPadded(to width: Int, with pad: Character = "0") -> String {
        count >= width ? self : String(repeating: pad, count: width - count) + self
    }
}
