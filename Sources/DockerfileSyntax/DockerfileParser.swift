// Layer 1 of the front end: physical lines → logical lines (BOM, CRLF, directives, comments,
// continuation, heredoc bodies), then each logical line → SyntaxNode via InstructionSplitter.
// Grammar: grammar/dockerfile.ebnf (`dockerfile`, `logical-line`, `heredoc-body`).

/// Parses Dockerfiles exactly as BuildKit's `parser.Parse` does.
public enum DockerfileParser {
    /// Parses Dockerfile text. Errors carry `path`, line and column.
    public static func parse(_ text: String, path: String = "Dockerfile") throws(DockerfileError) -> Dockerfile {
        try parse(bytes: Array(text.utf8), path: path)
    }

    /// Parses raw Dockerfile bytes (invalid UTF-8 is tolerated where BuildKit tolerates it).
    public static func parse(bytes: [UInt8], path: String = "Dockerfile") throws(DockerfileError) -> Dockerfile {
        var run = ParseRun(data: bytes, path: path)
        return try run.parse()
    }
}

/// Maps an offset in a logical line back to the file: each joined piece remembers where it came from.
struct SourceMap {
    /// (offset in the logical line, absolute offset in the file) for each joined piece, ascending.
    var segments: [(logical: Int, absolute: Int)] = []
    func absolute(_ logical: Int) -> Int {
        var lo = 0, hi = segments.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if segments[mid].logical <= logical { lo = mid } else { hi = mid - 1 }
        }
        let s = segments[lo]
        return s.absolute + (logical - s.logical)
    }
}

private struct ParseRun {
    let data: [UInt8]
    let path: String
    var pos = 0
    var lineStarts: [Int] = []
    var currentLine = 0
    var escape = UInt8(ascii: "\\")
    var directiveScanner = DirectiveScanner()
    var directives: [Directive] = []
    var comments: [String] = []
    var nodes: [SyntaxNode] = []
    var warnings: [SyntaxWarning] = []

    init(data: [UInt8], path: String) { self.data = data; self.path = path }

    /// The next physical line including its `\n` (Go's scanner with a keep-newline split).
    mutating func readLine() -> Range<Int>? {
        guard pos < data.count else { return nil }
        let start = pos
        var end = start
        while end < data.count && data[end] != 0x0A { end += 1 }
        if end < data.count { end += 1 }
        pos = end
        lineStarts.append(start)
        return start..<end
    }

    func position(absolute: Int) -> SourcePosition {
        // Positions are asked for in file order, almost always on one of the last lines read.
        var lo = 0, hi = lineStarts.count - 1
        if hi >= 0 && lineStarts[hi] <= absolute {
            lo = hi
        } else if hi >= 1 && lineStarts[hi - 1] <= absolute {
            lo = hi - 1
        }
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= absolute { lo = mid } else { hi = mid - 1 }
        }
        let lineStart = lineStarts.isEmpty ? 0 : lineStarts[lo]
        var column = 1
        var i = lineStart
        while i < absolute && i < data.count {
            if data[i] & 0xC0 != 0x80 { column += 1 }
            i += 1
        }
        return SourcePosition(line: lo + 1, column: column)
    }

    func error(_ message: String, line: Int, endLine: Int? = nil, column: Int = 1) -> DockerfileError {
        DockerfileError(
            file: path, position: SourcePosition(line: max(line, 1), column: column),
            endLine: endLine, message: message)
    }

    static func trimNewline(_ s: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var end = s.endIndex
        while end > s.startIndex && (s[end - 1] == 0x0A || s[end - 1] == 0x0D) { end -= 1 }
        return s[s.startIndex..<end]
    }

    static func isComment(_ s: ArraySlice<UInt8>) -> Bool {
        s.trimmingLeadingGoSpace().first == UInt8(ascii: "#")
    }

    /// BuildKit's `processLine`: trim the newline, maybe the left blanks, look for a directive,
    /// and blank out comment lines.
    mutating func processLine(_ raw: ArraySlice<UInt8>, stripLeft: Bool) throws(DockerfileError) -> (ArraySlice<UInt8>, Bool) {
        var token = ParseRun.trimNewline(raw)
        if stripLeft { token = token.trimmingLeadingGoSpace() }
        var isDirective = false
        do throws(LocalError) {
            if let directive = try directiveScanner.scan(token, lineNumber: currentLine + 1) {
                if directive.name == "escape" {
                    guard directive.value == "\\" || directive.value == "`" else {
                        throw LocalError("invalid escape token '\(directive.value)' does not match ` or \\")
                    }
                    escape = directive.value.utf8.first!
                }
                directives.append(directive)
                isDirective = true
            }
        } catch let e {
            throw error(e.message, line: currentLine + 1)
        }
        if ParseRun.isComment(token) { token = token[token.startIndex..<token.startIndex] }
        return (token, isDirective)
    }

    /// The continuation rule `([^E])E[ \t]*$|^E[ \t]*$`: returns the line without the escape and
    /// whether the logical line ends here.
    func trimContinuation(_ s: ArraySlice<UInt8>) -> (ArraySlice<UInt8>, Bool) {
        var end = s.endIndex
        while end > s.startIndex && (s[end - 1] == 0x20 || s[end - 1] == 0x09) { end -= 1 }
        guard end > s.startIndex, s[end - 1] == escape else { return (s, true) }
        let escapeAt = end - 1
        if escapeAt == s.startIndex { return (s[s.startIndex..<s.startIndex], false) }
        if s[escapeAt - 1] == escape { return (s, true) }
        return (s[s.startIndex..<escapeAt], false)
    }

    mutating func parse() throws(DockerfileError) -> Dockerfile {
        while let range = readLine() {
            var raw = data[range]
            if currentLine == 0, raw.starts(with: [0xEF, 0xBB, 0xBF]) { raw = raw.dropFirst(3) }
            if ParseRun.isComment(raw) {
                let comment = String(dockerfileBytes: raw.dropFirst().trimmingGoSpace())
                if comment.isEmpty { comments = [] } else { comments.append(comment) }
            }
            let (processed, isDirective) = try processLine(raw, stripLeft: true)
            if isDirective && !comments.isEmpty { comments.removeLast() }
            currentLine += 1
            let startLine = currentLine
            var (piece, isEnd) = trimContinuation(processed)
            if isEnd && piece.isEmpty { continue }

            // A one-line instruction is used in place (its indices are file offsets); only a
            // continued one is copied into a joined buffer with a map back to the file.
            var joined: [UInt8] = []
            var map = SourceMap(segments: [(piece.startIndex, piece.startIndex)])
            var hasEmptyContinuation = false
            let firstPiece = piece
            while !isEnd, let next = readLine() {
                let nextRaw = data[next]
                let (processedNext, _) = try processLine(nextRaw, stripLeft: false)
                currentLine += 1
                if ParseRun.isComment(nextRaw) { continue }
                if ParseRun.trimNewline(processedNext).trimmingLeadingGoSpace().isEmpty {
                    hasEmptyContinuation = true
                    continue
                }
                (piece, isEnd) = trimContinuation(processedNext)
                if joined.isEmpty && map.segments.count == 1 {
                    joined.append(contentsOf: firstPiece)
                    map = SourceMap(segments: [(0, firstPiece.startIndex)])
                }
                map.segments.append((joined.count, piece.startIndex))
                joined.append(contentsOf: piece)
            }
            let logical: ArraySlice<UInt8> =
                map.segments.count == 1 && map.segments[0].logical == firstPiece.startIndex
                ? firstPiece : joined[...]

            if hasEmptyContinuation {
                warnings.append(
                    SyntaxWarning(
                        kind: .emptyContinuation,
                        message: "Empty continuation line found in: \(String(dockerfileBytes: logical))",
                        position: SourcePosition(line: currentLine, column: 1)))
            }

            let splitter = InstructionSplitter(escape: escape)
            let parsed: SplitInstruction
            do {
                parsed = try splitter.split(logical)
            } catch let e {
                let column = e.offset.map { position(absolute: map.absolute($0)).column } ?? 1
                let line = e.offset.map { position(absolute: map.absolute($0)).line } ?? startLine
                throw error(e.message, line: line, endLine: currentLine, column: column)
            }

            var heredocs: [Heredoc] = []
            if parsed.canContainHeredoc && containsHeredocOperator(logical) {
                let markers: [HeredocMarker]
                do { markers = try HeredocMarker.find(in: String(dockerfileBytes: logical)) } catch let e {
                    throw error(e.message, line: startLine, endLine: currentLine)
                }
                for marker in markers {
                    var content: [UInt8] = []
                    var terminated = false
                    let terminator = Array(marker.name.utf8)
                    while let bodyRange = readLine() {
                        currentLine += 1
                        let body = data[bodyRange]
                        var candidate = ParseRun.trimNewline(body)
                        if marker.chomp { candidate = candidate.drop(while: { $0 == 0x09 }) }
                        if candidate.elementsEqual(terminator) { terminated = true; break }
                        content.append(contentsOf: body)
                    }
                    guard terminated else {
                        throw error("unterminated heredoc", line: startLine, endLine: currentLine)
                    }
                    heredocs.append(
                        Heredoc(
                            name: marker.name, fileDescriptor: marker.fileDescriptor,
                            expand: marker.expand, chomp: marker.chomp,
                            content: String(dockerfileBytes: content[...])))
                }
            }

            nodes.append(
                parsed.node(
                    map: map, run: self, startLine: startLine, endLine: currentLine,
                    heredocs: heredocs, comments: comments))
            comments = []
        }
        guard !nodes.isEmpty else {
            throw error("file with no instructions", line: currentLine)
        }
        return Dockerfile(
            path: path, nodes: nodes, directives: directives, escapeToken: escape,
            warnings: warnings)
    }

    /// A cheap necessary condition for a heredoc marker: some `<<` that starts a word (after
    /// optional digits, at the line start or after a blank). Only then is the line lexed.
    func containsHeredocOperator(_ line: ArraySlice<UInt8>) -> Bool {
        var i = line.startIndex + 1
        while i < line.endIndex {
            if line[i] == UInt8(ascii: "<") && line[i - 1] == UInt8(ascii: "<") {
                var j = i - 2
                while j >= line.startIndex && line[j] >= 0x30 && line[j] <= 0x39 { j -= 1 }
                if j < line.startIndex || line[j] < 0x21 || line[j] >= 0x80 { return true }
            }
            i += 1
        }
        return false
    }
}

extension SplitInstruction {
    fileprivate func node(
        map: SourceMap, run: ParseRun, startLine: Int, endLine: Int,
        heredocs: [Heredoc], comments: [String]
    ) -> SyntaxNode {
        func pos(_ offset: Int) -> SourcePosition { run.position(absolute: map.absolute(offset)) }
        let triggerNode = trigger?.value.node(
            map: map, run: run, startLine: startLine, endLine: endLine,
            heredocs: heredocs, comments: [])
        return SyntaxNode(
            keyword: keyword, command: command, flags: flags, arguments: arguments, isJSON: isJSON, original: original,
            startLine: startLine, endLine: endLine, heredocs: heredocs, comments: comments,
            trigger: triggerNode, position: pos(keywordOffset),
            flagPositions: flagOffsets.map(pos), argumentsPosition: pos(argumentsOffset))
    }
}
