// The syntax tree: one node per instruction, as BuildKit's parser (layers 1–2) produces it.
// Grammar: grammar/dockerfile.ebnf (`instruction`, `arguments`).

/// A position in a Dockerfile, 1-based line and column (column counts Unicode scalars).
public struct SourcePosition: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public init(line: Int, column: Int) { self.line = line; self.column = column }
    public static func < (a: Self, b: Self) -> Bool { (a.line, a.column) < (b.line, b.column) }
    public var description: String { "\(line):\(column)" }
}

/// A here-document attached to RUN/COPY/ADD (`<<EOF`, `<<-EOF`, `3<<"EOF"`).
public struct Heredoc: Sendable, Hashable {
    /// The terminator word after quote removal (`<<"EOF"` → `EOF`).
    public var name: String
    /// The file descriptor written before `<<` (0 when absent).
    public var fileDescriptor: Int
    /// False when any part of the word was quoted: the body is then not variable-expanded.
    public var expand: Bool
    /// True for `<<-`: leading tabs are removed from body lines when the instruction runs.
    public var chomp: Bool
    /// The raw body, line endings kept, terminator excluded.
    public var content: String

    public init(name: String, fileDescriptor: Int, expand: Bool, chomp: Bool, content: String) {
        self.name = name; self.fileDescriptor = fileDescriptor; self.expand = expand
        self.chomp = chomp; self.content = content
    }

    /// The body as it is used at build time: for `<<-`, leading tabs removed from every line.
    public var chompedContent: String {
        guard chomp else { return content }
        var out = ""
        out.reserveCapacity(content.utf8.count)
        var atLineStart = true
        for scalar in content.unicodeScalars {
            if atLineStart && scalar == "\t" { continue }
            atLineStart = scalar == "\n"
            out.unicodeScalars.append(scalar)
        }
        return out
    }
}

/// A parser directive from the top of the file (`# syntax=`, `# escape=`, `# check=`).
public struct Directive: Sendable, Hashable {
    public var name: String
    public var value: String
    public var line: Int
}

/// One instruction of a Dockerfile as the parser sees it, before any validation of its meaning.
public final class SyntaxNode: Sendable {
    /// The keyword as written (`RUN`, `run`, `Copy`); unknown keywords are kept too.
    public let keyword: String
    /// Leading `--flag` words, quotes and escapes removed.
    public let flags: [String]
    /// The arguments as BuildKit's per-keyword argument parser splits them. ENV and LABEL hold
    /// triples `key, value, separator` where the separator is `=` or empty for the legacy `k v` form.
    public let arguments: [String]
    /// True when the arguments came from a JSON array (exec form).
    public let isJSON: Bool
    /// The logical line (continuations joined), exactly as BuildKit's `Original`.
    public let original: String
    public let startLine: Int
    public let endLine: Int
    public let heredocs: [Heredoc]
    /// Comment lines directly above the instruction (without `#`), as BuildKit keeps them.
    public let comments: [String]
    /// The trigger instruction of `ONBUILD`.
    public let trigger: SyntaxNode?
    /// Where the keyword starts.
    public let position: SourcePosition
    /// Where each flag word starts (parallel to `flags`).
    public let flagPositions: [SourcePosition]
    /// Where the argument text (after the flags) starts.
    public let argumentsPosition: SourcePosition

    public init(
        keyword: String, command: String, flags: [String], arguments: [String], isJSON: Bool, original: String,
        startLine: Int, endLine: Int, heredocs: [Heredoc], comments: [String],
        trigger: SyntaxNode?, position: SourcePosition, flagPositions: [SourcePosition],
        argumentsPosition: SourcePosition
    ) {
        self.keyword = keyword; self.command = command; self.flags = flags; self.arguments = arguments; self.isJSON = isJSON
        self.original = original; self.startLine = startLine; self.endLine = endLine
        self.heredocs = heredocs; self.comments = comments; self.trigger = trigger
        self.position = position; self.flagPositions = flagPositions
        self.argumentsPosition = argumentsPosition
    }

    /// The keyword with ASCII letters lowercased, the key every later stage dispatches on.
    public let command: String
}

/// A non-fatal finding of the parser (BuildKit reports empty continuation lines this way).
public struct SyntaxWarning: Sendable, Hashable {
    /// The kind of warning, named as BuildKit names it.
    public enum Kind: String, Sendable { case emptyContinuation = "NoEmptyContinuation" }
    public var kind: Kind
    public var message: String
    public var position: SourcePosition
}

/// The whole parsed file.
public struct Dockerfile: Sendable {
    public var path: String
    public var nodes: [SyntaxNode]
    public var directives: [Directive]
    public var escapeToken: UInt8
    public var warnings: [SyntaxWarning]

    public var escapeCharacter: Character { Character(Unicode.Scalar(escapeToken)) }
}
