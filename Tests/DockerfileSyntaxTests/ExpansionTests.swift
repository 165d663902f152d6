// The shell-word expander against BuildKit's documented behaviour (DOCKERFILE.md §9), row by row.
import Testing
@testable import DockerfileSyntax

struct ExpansionRow: CustomTestStringConvertible, Sendable {
    var word: String
    var expected: String?  // nil: an error is expected
    var errorContains: String = ""
    var escape: Unicode.Scalar = "\\"
    var testDescription: String { word }
}

private let env: [String: String] = [
    "HOME": "/root", "EMPTY": "", "PATH": "/usr/bin:/bin", "NAME": "app", "FILE": "archive.tar.gz",
    "SPACED": "a  b c", "KO": "한국어", "ÄÖ": "umlaut", "DOLLAR": "x$0y", "NL": "a\nb", "ZERO": "<${0}>"
]

private let rows: [ExpansionRow] = [
    // plain names
    .init(word: "$HOME", expected: "/root"),
    .init(word: "${HOME}", expected: "/root"),
    .init(word: "$HOMEsuffix", expected: ""),
    .init(word: "${HOME}suffix", expected: "/rootsuffix"),
    .init(word: "$UNSET", expected: ""),
    .init(word: "$ÄÖ", expected: "umlaut"),
    .init(word: "pre$KO", expected: "pre한국어"),
    .init(word: "$", expected: "$"),
    .init(word: "a $ b", expected: "a $ b"),
    .init(word: "$.", expected: "$."),
    .init(word: "cost: 5$", expected: "cost: 5$"),
    // positional and special parameters are never set
    .init(word: "$1", expected: ""),
    .init(word: "$12x", expected: "x"),
    .init(word: "$9lives", expected: "lives"),
    .init(word: "$$", expected: ""),
    .init(word: "$@x", expected: "x"),
    .init(word: "${#}", expected: ""),
    .init(word: "${?:-d}", expected: "d"),
    // defaults and alternatives
    .init(word: "${UNSET:-def}", expected: "def"),
    .init(word: "${EMPTY:-def}", expected: "def"),
    .init(word: "${EMPTY-def}", expected: ""),
    .init(word: "${UNSET-def}", expected: "def"),
    .init(word: "${HOME:-def}", expected: "/root"),
    .init(word: "${HOME:+alt}", expected: "alt"),
    .init(word: "${EMPTY:+alt}", expected: ""),
    .init(word: "${EMPTY+alt}", expected: "alt"),
    .init(word: "${UNSET+alt}", expected: ""),
    .init(word: "${UNSET:-${NAME:-x}}", expected: "app"),
    .init(word: "${UNSET:-$HOME/x}", expected: "/root/x"),
    .init(word: "${UNSET:-x}y}", expected: "xy}"),
    .init(word: "${UNSET:-\"}\"}", expected: "}"),
    .init(word: "${UNSET:-a b}", expected: "a b"),
    .init(word: "${HOME:+${HOME}:}", expected: "/root:"),
    .init(word: "${UNSET:-\\$HOME}", expected: "$HOME"),
    // required
    .init(word: "${HOME?}", expected: "/root"),
    .init(word: "${EMPTY?}", expected: ""),
    .init(word: "${UNSET?}", expected: nil, errorContains: "UNSET: is not allowed to be unset"),
    .init(word: "${EMPTY:?}", expected: nil, errorContains: "EMPTY: is not allowed to be empty"),
    .init(word: "${UNSET:?must be set}", expected: nil, errorContains: "UNSET: must be set"),
    // prefix / suffix removal
    .init(word: "${FILE#*.}", expected: "tar.gz"),
    .init(word: "${FILE##*.}", expected: "gz"),
    .init(word: "${FILE%.*}", expected: "archive.tar"),
    .init(word: "${FILE%%.*}", expected: "archive"),
    .init(word: "${FILE#nomatch}", expected: "archive.tar.gz"),
    .init(word: "${FILE#a?c}", expected: "hive.tar.gz"),
    .init(word: "${UNSET#x}", expected: ""),
    .init(word: "${PATH#*\\*}", expected: "/usr/bin:/bin"),
    .init(word: "${FILE#\\x}", expected: nil, errorContains: "invalid escape"),
    .init(word: "${FILE:#x}", expected: nil, errorContains: "unsupported modifier (:#)"),
    .init(word: "${FILE:%x}", expected: nil, errorContains: "unsupported modifier (:%)"),
    .init(word: "${NL#*}", expected: "a\nb"),
    .init(word: "${NL##*}", expected: "\nb"),
    // replacement
    .init(word: "${PATH/bin/sbin}", expected: "/usr/sbin:/bin"),
    .init(word: "${PATH//bin/sbin}", expected: "/usr/sbin:/sbin"),
    .init(word: "${PATH//\\//_}", expected: "_usr_bin:_bin"),
    .init(word: "${FILE/.*/}", expected: "archive"),
    .init(word: "${FILE//a/}", expected: "rchive.tr.gz"),
    .init(word: "${FILE//x}", expected: nil, errorContains: "missing '/' in ${}"),
    .init(word: "${NAME//p/$DOLLAR}", expected: "axx"),  // Go template quirk: "$0y" names a group that does not exist
    .init(word: "${NAME//p/$ZERO}", expected: "a<p><p>"),  // and ${0} is the match
    .init(word: "${NAME//p/<\\${0}>}", expected: "a<\\${0<\\${0>}"),  // the word ends at the first }
    .init(word: "${NAME//p/\\$0}", expected: "a\\p\\p"),
    .init(word: "${NAME/p/\\$0}", expected: "a\\$0p"),
    .init(word: "${NAME//*/[&]}", expected: "[&]"),
    // unsupported forms and malformed input
    .init(word: "${HOME:=x}", expected: nil, errorContains: "unsupported modifier (:=)"),
    .init(word: "${HOME=x}", expected: nil, errorContains: "unsupported modifier (=)"),
    .init(word: "${#HOME}", expected: nil, errorContains: "unsupported modifier"),
    .init(word: "${!HOME}", expected: nil, errorContains: "unsupported modifier"),
    .init(word: "${HOME:1:2}", expected: nil, errorContains: "unsupported modifier"),
    .init(word: "${}", expected: nil, errorContains: "bad substitution"),
    .init(word: "${:-x}", expected: nil, errorContains: "bad substitution"),
    .init(word: "${{x}", expected: nil, errorContains: "bad substitution"),
    .init(word: "${x", expected: nil, errorContains: "missing '}'"),
    .init(word: "${x:-y", expected: nil, errorContains: "missing '}'"),
    .init(word: "${x.y}", expected: nil, errorContains: "unsupported modifier (.)"),
    .init(word: "$(echo hi)", expected: "$(echo hi)"),
    .init(word: "`cmd`", expected: "`cmd`"),
    // quotes and escapes
    .init(word: "'$HOME'", expected: "$HOME"),
    .init(word: "'a\\tb'", expected: "a\\tb"),
    .init(word: "'it'\\''s'", expected: "it's"),
    .init(word: "'open", expected: nil, errorContains: "matching single-quote"),
    .init(word: "\"$HOME\"", expected: "/root"),
    .init(word: "\"a\\tb\"", expected: "a\\tb"),
    .init(word: "\"a\\\"b\"", expected: "a\"b"),
    .init(word: "\"a\\$HOME\"", expected: "a$HOME"),
    .init(word: "\"a\\\\b\"", expected: "a\\b"),
    .init(word: "\"open", expected: nil, errorContains: "matching double-quote"),
    .init(word: "\"it's\"", expected: "it's"),
    .init(word: "a\\tb", expected: "atb"),
    .init(word: "\\$HOME", expected: "$HOME"),
    .init(word: "\\${HOME}", expected: "${HOME}"),
    .init(word: "trailing\\", expected: "trailing"),
    .init(word: "two words", expected: "two words"),
    .init(word: "a\\ b", expected: "a b"),
    .init(word: "\"\"", expected: ""),
    // backtick escape
    .init(word: "a`$HOME", expected: "a$HOME", escape: "`"),
    .init(word: "c:\\path", expected: "c:\\path", escape: "`"),
    .init(word: "\"a`\"b\"", expected: "a\"b", escape: "`")
]

@Suite struct ShellExpansion {
    @Test(arguments: rows)
    func expandsLikeBuildKit(_ row: ExpansionRow) {
        let lexer = ShellLexer(escapeToken: row.escape)
        do {
            let result = try lexer.expand(row.word, lookup: { env[$0] })
            #expect(row.expected == result.value, "\(row.word)")
        } catch {
            #expect(row.expected == nil, "\(row.word) failed: \(error.message)")
            #expect(error.message.contains(row.errorContains), "\(error.message)")
            #expect(error.message.hasPrefix("failed to process \""))
        }
    }

    @Test func wordSplittingKeepsQuotedBlanks() throws {
        let lexer = ShellLexer()
        #expect(try lexer.expandWords("80 $PORTS \"a b\"", lookup: { $0 == "PORTS" ? "443  8080" : nil }) == ["80", "443", "8080", "a b"])
        #expect(try lexer.expandWords("x${SPACED}y", lookup: { env[$0] }) == ["xa", "b", "cy"])
        #expect(try lexer.expandWords("\"${SPACED}\"", lookup: { env[$0] }) == ["a  b c"])
        #expect(try lexer.expandWords("a\\ b c", lookup: { _ in nil }) == ["a b", "c"])
    }

    @Test func reportsMatchedAndUnmatchedNames() throws {
        let result = try ShellLexer().expand("$HOME ${NOPE:-x} $EMPTY", lookup: { env[$0] })
        #expect(result.matched == ["HOME", "EMPTY"])
        #expect(result.unmatched == ["NOPE"])
    }

    @Test func skipUnsetEnvKeepsUnknownVariablesAsWritten() throws {
        var lexer = ShellLexer()
        lexer.skipUnsetEnv = true
        #expect(try lexer.expand("$A ${B} ${C:-d} ${D/x/y}", lookup: { _ in nil }).value == "$A ${B} ${C:-d} ${D/x/y}")
    }
}
