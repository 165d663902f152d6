// Layer 2 of the front end: one logical line → keyword, leading `--flags`, and the arguments as
// the keyword's argument parser splits them (see ArgumentParsers.swift).
// Grammar: grammar/dockerfile.ebnf (`instruction`, `flags`).

/// A logical line split into its parts; offsets are into the logical line.
struct SplitInstruction {
    var keyword: String
    /// The keyword with ASCII letters lowercased: the key of every dispatch table.
    var command: String
    var keywordOffset: Int
    var flags: [String]
    var flagOffsets: [Int]
    var arguments: [String]
    var argumentsOffset: Int
    var isJSON: Bool
    var original: String
    var trigger: Box?

    final class Box {
        let value: SplitInstruction
        init(_ value: SplitInstruction) { self.value = value }
    }

    /// RUN, COPY and ADD (also as ONBUILD triggers) in shell form may carry heredocs.
    var canContainHeredoc: Bool {
        if command == "onbuild", let t = trigger { return t.value.canContainHeredoc }
        switch command {
        case "add", "copy", "run": return !isJSON
        default: return false
        }
    }
}

struct InstructionSplitter {
    let escape: UInt8

    init(escape: UInt8) { self.escape = escape }

    /// BuildKit's `newNodeFromLine` on `text` (a slice of the logical line, for ONBUILD's trigger too).
    func split(_ text: ArraySlice<UInt8>) throws(LocalError) -> SplitInstruction {
        let trimmed = text.trimmingGoSpace()
        // Keyword: up to the first run of [\t\v\f\r ].
        var k = trimmed.startIndex
        while k < trimmed.endIndex && !GoChars.isRegexBlank(trimmed[k]) { k += 1 }
        let keywordBytes = trimmed[trimmed.startIndex..<k]
        var flags: [String] = []
        var flagOffsets: [Int] = []
        var rest = trimmed[k..<k]
        if k < trimmed.endIndex {
            var r = k
            while r < trimmed.endIndex && GoChars.isRegexBlank(trimmed[r]) { r += 1 }
            (rest, flags, flagOffsets) = extractFlags(trimmed[r...])
            rest = rest.trimmingGoSpace()
        }
        let keyword = String(dockerfileBytes: keywordBytes)
        let command = asciiLowercased(keywordBytes)
        var result = SplitInstruction(
            keyword: keyword, command: command, keywordOffset: trimmed.startIndex, flags: flags, flagOffsets: flagOffsets,
            arguments: [], argumentsOffset: rest.startIndex, isJSON: false,
            original: String(dockerfileBytes: text), trigger: nil)
        let parser = ArgumentParsers.parser(for: command)
        switch parser {
        case .subCommand:
            if !rest.isEmpty {
                result.trigger = SplitInstruction.Box(try split(rest))
            }
        default:
            let parsed = try ArgumentParsers.run(parser, rest, escape: escape, keyword: keyword)
            result.arguments = parsed.arguments
            result.isJSON = parsed.isJSON
        }
        return result
    }

    /// BuildKit's `extractBuilderFlags`: leading words that start with `--`, de-quoted and
    /// unescaped; `--` alone ends the flags. (BuildKit reads this byte by byte and mangles
    /// non-ASCII text; we keep the bytes intact.)
    func extractFlags(_ s: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, [String], [Int]) {
        enum Phase { case spaces, word, quote }
        var words: [String] = []
        var offsets: [Int] = []
        var phase = Phase.spaces
        var buffer: [UInt8] = []
        var quote: UInt8 = 0
        var blankOK = false
        var wordStart = s.startIndex
        var pos = s.startIndex
        func isSpace(_ b: UInt8) -> Bool { b == 0x20 || (b >= 0x09 && b <= 0x0D) }
        while true {
            let atEnd = pos == s.endIndex
            if phase == .spaces {
                if atEnd { break }
                let ch = s[pos]
                if isSpace(ch) { pos += 1; continue }
                if ch != UInt8(ascii: "-") || pos + 1 == s.endIndex || s[pos + 1] != UInt8(ascii: "-") {
                    return (s[pos...], words, offsets)
                }
                phase = .word
                wordStart = pos
            }
            if atEnd {
                if !(buffer.count == 2 && buffer == [0x2D, 0x2D]) && (blankOK || !buffer.isEmpty) {
                    words.append(String(dockerfileBytes: buffer[...])); offsets.append(wordStart)
                }
                break
            }
            var ch = s[pos]
            if phase == .word {
                if isSpace(ch) {
                    if buffer == [0x2D, 0x2D] { return (s[pos...], words, offsets) }
                    if blankOK || !buffer.isEmpty {
                        words.append(String(dockerfileBytes: buffer[...])); offsets.append(wordStart)
                    }
                    buffer = []
                    blankOK = false
                    phase = .spaces
                    pos += 1
                    continue
                }
                if ch == UInt8(ascii: "'") || ch == UInt8(ascii: "\"") {
                    quote = ch; blankOK = true; phase = .quote; pos += 1
                    continue
                }
                if ch == escape {
                    if pos + 1 == s.endIndex { pos += 1; continue }
                    pos += 1
                    ch = s[pos]
                }
                buffer.append(ch)
                pos += 1
                continue
            }
            // Inside quotes.
            if ch == quote { phase = .word; pos += 1; continue }
            if ch == escape {
                if pos + 1 == s.endIndex { phase = .word; pos += 1; continue }
                pos += 1
                ch = s[pos]
            }
            buffer.append(ch)
            pos += 1
        }
        return (s[s.endIndex...], words, offsets)
    }
}

/// Lowercases ASCII letters only (keywords are ASCII; anything else never matches the table).
func asciiLowercased(_ bytes: ArraySlice<UInt8>) -> String {
    if !bytes.contains(where: { $0 >= 0x41 && $0 <= 0x5A }) { return String(dockerfileBytes: bytes) }
    return String(dockerfileBytes: bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 }[...])
}
