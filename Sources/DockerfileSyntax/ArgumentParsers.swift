// The table from keyword to argument parser, and the parsers themselves (BuildKit's
// line_parsers.go). Grammar: grammar/dockerfile.ebnf (`arguments` and its alternatives).

enum ArgumentParser: Sendable {
    /// Unknown keyword: arguments are dropped (a single empty value, as BuildKit's AST shows).
    case ignore
    /// ONBUILD: the rest is a full instruction.
    case subCommand
    /// ENV, LABEL: `k=v ...` or legacy `k v`.
    case keyValue(label: String)
    /// ARG: quote-aware words.
    case nameOrNameValue
    /// FROM, EXPOSE: split on ASCII blanks, no quoting.
    case whitespaceList
    /// USER, WORKDIR, STOPSIGNAL, MAINTAINER: the whole rest.
    case string
    /// RUN, CMD, ENTRYPOINT, SHELL: JSON array or the whole rest.
    case jsonOrString
    /// COPY, ADD, VOLUME: JSON array or blank-separated words.
    case jsonOrList
    /// HEALTHCHECK: a type word, then JSON or string.
    case healthcheck
}

struct ParsedArguments {
    var arguments: [String]
    var isJSON: Bool
}

enum ArgumentParsers {
    /// Every keyword BuildKit's parser knows, with its argument parser. grammar/dockerfile.ebnf
    /// lists the same keywords; a test keeps the two in step.
    static let table: [String: ArgumentParser] = [
        "add": .jsonOrList,
        "arg": .nameOrNameValue,
        "cmd": .jsonOrString,
        "copy": .jsonOrList,
        "entrypoint": .jsonOrString,
        "env": .keyValue(label: "ENV"),
        "expose": .whitespaceList,
        "from": .whitespaceList,
        "healthcheck": .healthcheck,
        "label": .keyValue(label: "LABEL"),
        "maintainer": .string,
        "onbuild": .subCommand,
        "run": .jsonOrString,
        "shell": .jsonOrString,
        "stopsignal": .string,
        "user": .string,
        "volume": .jsonOrList,
        "workdir": .string
    ]

    static func parser(for keyword: String) -> ArgumentParser { table[keyword] ?? .ignore }

    static func run(
        _ parser: ArgumentParser, _ rest: ArraySlice<UInt8>, escape: UInt8,
        keyword: String
    ) throws(LocalError) -> ParsedArguments {
        switch parser {
        case .ignore: return ParsedArguments(arguments: [""], isJSON: false)
        case .subCommand: return ParsedArguments(arguments: [], isJSON: false)
        case .keyValue(let label): return ParsedArguments(arguments: try keyValues(rest, escape: escape, label: label), isJSON: false)
        case .nameOrNameValue:
            return ParsedArguments(arguments: words(rest, escape: escape).map { String(dockerfileBytes: $0[...]) }, isJSON: false)
        case .whitespaceList: return ParsedArguments(arguments: whitespaceList(rest), isJSON: false)
        case .string: return ParsedArguments(arguments: rest.isEmpty ? [] : [String(dockerfileBytes: rest)], isJSON: false)
        case .jsonOrString: return try jsonOrString(rest)
        case .jsonOrList:
            switch json(rest) {
            case .strings(let a): return ParsedArguments(arguments: a, isJSON: true)
            case .notStringArray: throw notStringArray(rest)
            case .invalid: return ParsedArguments(arguments: whitespaceList(rest), isJSON: false)
            }
        case .healthcheck:
            var sep = rest.startIndex
            while sep < rest.endIndex && !isASCIISpace(rest[sep]) { sep += 1 }
            var next = sep
            while next < rest.endIndex && isASCIISpace(rest[next]) { next += 1 }
            if sep == rest.startIndex { return ParsedArguments(arguments: [], isJSON: false) }
            let command = try jsonOrString(rest[next...])
            return ParsedArguments(
                arguments: [String(dockerfileBytes: rest[..<sep])] + command.arguments,
                isJSON: command.isJSON)
        }
    }

    static func isASCIISpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }

    static func notStringArray(_ rest: ArraySlice<UInt8>) -> LocalError {
        LocalError("when using JSON array syntax, arrays must be comprised of strings only", offset: rest.startIndex)
    }

    static func json(_ rest: ArraySlice<UInt8>) -> JSONArrayResult {
        let text = rest.trimmingLeadingGoSpace()
        guard text.first == UInt8(ascii: "[") else { return .invalid }
        return JSONArrayDecoder.decode(text)
    }

    static func jsonOrString(_ rest: ArraySlice<UInt8>) throws(LocalError) -> ParsedArguments {
        if rest.isEmpty { return ParsedArguments(arguments: [], isJSON: false) }
        switch json(rest) {
        case .strings(let a): return ParsedArguments(arguments: a, isJSON: true)
        case .notStringArray: throw notStringArray(rest)
        case .invalid: return ParsedArguments(arguments: [String(dockerfileBytes: rest)], isJSON: false)
        }
    }

    /// Go's `reWhitespace.Split(rest, -1)` on `[\t\v\f\r ]+`.
    static func whitespaceList(_ rest: ArraySlice<UInt8>) -> [String] {
        if rest.isEmpty { return [] }
        var out: [String] = []
        var start = rest.startIndex
        var i = start
        while i < rest.endIndex {
            if GoChars.isRegexBlank(rest[i]) {
                out.append(String(dockerfileBytes: rest[start..<i]))
                while i < rest.endIndex && GoChars.isRegexBlank(rest[i]) { i += 1 }
                start = i
            } else {
                i += 1
            }
        }
        out.append(String(dockerfileBytes: rest[start..<rest.endIndex]))
        return out
    }

    /// BuildKit's `parseWords`: blank-separated words where quotes group blanks; quotes and
    /// escapes are kept in the words (they go away at expansion time).
    static func words(_ rest: ArraySlice<UInt8>, escape: UInt8) -> [[UInt8]] {
        enum Phase { case spaces, word, quote }
        var words: [[UInt8]] = []
        var phase = Phase.spaces
        var quote: UInt8 = 0
        var blankOK = false
        var buffer: [UInt8] = []
        var pos = rest.startIndex
        /// Width of the character at `i` and whether it is a Go space.
        func charAt(_ i: Int) -> (Int, Bool) {
            let b = rest[i]
            if b < 0x80 { return (1, b == 0x20 || (b >= 0x09 && b <= 0x0D)) }
            if let (s, w) = decodeScalar(rest, at: i) { return (w, GoChars.isSpace(s)) }
            return (1, false)
        }
        while true {
            if pos == rest.endIndex {
                if phase != .spaces && (blankOK || !buffer.isEmpty) { words.append(buffer) }
                break
            }
            var (width, space) = charAt(pos)
            if phase == .spaces {
                if space { pos += width; continue }
                phase = .word
            }
            if phase == .word {
                if space {
                    phase = .spaces
                    if blankOK || !buffer.isEmpty { words.append(buffer) }
                    buffer = []
                    blankOK = false
                    pos += width
                    continue
                }
                let ch = rest[pos]
                if ch == UInt8(ascii: "'") || ch == UInt8(ascii: "\"") {
                    quote = ch; blankOK = true; phase = .quote
                }
                if ch == escape {
                    if pos + width == rest.endIndex { pos += width; continue }
                    buffer.append(ch)
                    pos += width
                    (width, space) = charAt(pos)
                }
                if width == 1 { buffer.append(rest[pos]) } else { buffer.append(contentsOf: rest[pos..<(pos + width)]) }
                pos += width
                continue
            }
            // Inside quotes (the opening quote was already copied).
            let ch = rest[pos]
            if ch == quote { phase = .word }
            if ch == escape && quote != UInt8(ascii: "'") {
                if pos + width == rest.endIndex { phase = .word; pos += width; continue }
                pos += width
                buffer.append(ch)
                (width, space) = charAt(pos)
            }
            if width == 1 { buffer.append(rest[pos]) } else { buffer.append(contentsOf: rest[pos..<(pos + width)]) }
            pos += width
        }
        return words
    }

    /// ENV and LABEL: triples `key, value, separator` (separator `=` or empty for legacy `k v`).
    static func keyValues(_ rest: ArraySlice<UInt8>, escape: UInt8, label: String) throws(LocalError) -> [String] {
        let ws = words(rest, escape: escape)
        guard let first = ws.first else { return [] }
        let equals = UInt8(ascii: "=")
        if !first.contains(equals) {
            var i = rest.startIndex
            while i < rest.endIndex && !GoChars.isRegexBlank(rest[i]) { i += 1 }
            guard i < rest.endIndex else {
                throw LocalError("\(label) must have two arguments", offset: rest.startIndex)
            }
            var j = i
            while j < rest.endIndex && GoChars.isRegexBlank(rest[j]) { j += 1 }
            return [String(dockerfileBytes: rest[..<i]), String(dockerfileBytes: rest[j...]), ""]
        }
        var out: [String] = []
        out.reserveCapacity(ws.count * 3)
        for w in ws {
            guard let eq = w.firstIndex(of: equals) else {
                throw LocalError(
                    "Syntax error - can't find = in \(goQuote(String(dockerfileBytes: w[...]))). Must be of the form: name=value",
                    offset: rest.startIndex)
            }
            out.append(String(dockerfileBytes: w[..<eq]))
            out.append(String(dockerfileBytes: w[(eq + 1)...]))
            out.append("=")
        }
        return out
    }
}
