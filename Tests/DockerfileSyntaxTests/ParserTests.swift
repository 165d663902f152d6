// Parser behaviour a user sees beyond the AST shape the differential test covers: positions,
// warnings, directives, comments, heredoc details, and errors with file:line:column.
import Testing
@testable import DockerfileSyntax

@Suite struct ParserBehaviour {
    func parse(_ text: String) throws -> Dockerfile { try DockerfileParser.parse(text, path: "Dockerfile") }

    func error(_ text: String) -> DockerfileError? {
        do { _ = try DockerfileParser.parse(text, path: "Dockerfile"); return nil } catch { return error }
    }

    @Test func keywordPositionSkipsLeadingBlanks() throws {
        let file = try parse("FROM a\n   RUN echo hi\n")
        #expect(file.nodes[1].position == SourcePosition(line: 2, column: 4))
        #expect(file.nodes[1].argumentsPosition == SourcePosition(line: 2, column: 8))
    }

    @Test func flagPositionsPointAtEachFlagEvenOnContinuationLines() throws {
        let file = try parse("FROM a\nRUN --network=none \\\n    --mount=type=cache,target=/x echo\n")
        let run = file.nodes[1]
        #expect(run.flags == ["--network=none", "--mount=type=cache,target=/x"])
        #expect(run.flagPositions == [SourcePosition(line: 2, column: 5), SourcePosition(line: 3, column: 5)])
        #expect(run.startLine == 2 && run.endLine == 3)
    }

    @Test func columnsCountCharactersNotBytes() throws {
        let file = try parse("FROM a\nLABEL é=1\nENV ü A\n")
        #expect(file.nodes[2].argumentsPosition == SourcePosition(line: 3, column: 5))
        #expect(error("FROM a\nRUN [\"é\", 1]\n")?.position == SourcePosition(line: 2, column: 5))
    }

    @Test func errorsCarryFileLineAndColumn() {
        let e = error("FROM a\nENV A=1 B\n")
        #expect(e?.description == "Dockerfile:2:5: Syntax error - can't find = in \"B\". Must be of the form: name=value")
        #expect(error("FROM a\nRUN <<EOF\nx\n")?.description == "Dockerfile:2:1: unterminated heredoc")
        #expect(error("# escape=x\nFROM a\n")?.description.hasPrefix("Dockerfile:1:1: invalid escape token 'x'") == true)
        #expect(error("\n\n# c\n")?.description == "Dockerfile:3:1: file with no instructions")
        #expect(error("")?.description == "Dockerfile:1:1: file with no instructions")
    }

    @Test func duplicateDirectiveIsReportedOnItsOwnLine() {
        #expect(error("# syntax=a\n# escape=`\n# syntax=b\nFROM a\n")?.position.line == 3)
    }

    @Test func directivesAreRecordedAndSetTheEscape() throws {
        let file = try parse("# syntax=docker/dockerfile:1\n#ESCAPE = `\nFROM a\nRUN a `\n b\n")
        #expect(file.directives.map(\.name) == ["syntax", "escape"])
        #expect(file.directives[0].value == "docker/dockerfile:1")
        #expect(file.escapeToken == UInt8(ascii: "`"))
        #expect(file.nodes[1].arguments == ["a  b"])
    }

    @Test func emptyContinuationLinesWarnAtTheEndOfTheInstruction() throws {
        let file = try parse("FROM a\nRUN a \\\n\n  b\nRUN c\n")
        #expect(file.warnings.count == 1)
        #expect(file.warnings[0].kind == .emptyContinuation)
        #expect(file.warnings[0].position.line == 4)
        #expect(file.nodes[1].arguments == ["a   b"])
    }

    @Test func commentsAboveAnInstructionAreKeptAndABlankCommentClearsThem() throws {
        let file = try parse("# syntax=x\n# first\n#\n# builder stage\n# more\nFROM a AS builder\nRUN x\n")
        #expect(file.nodes[0].comments == ["builder stage", "more"])
        #expect(file.nodes[1].comments.isEmpty)
    }

    @Test func heredocAttributes() throws {
        let file = try parse("FROM a\nCOPY <<-\"EOT\" 3<<X /d\n\tquoted\n\tEOT\nplain $v\nX\n")
        let docs = file.nodes[1].heredocs
        #expect(docs.count == 2)
        #expect(docs[0] == Heredoc(name: "EOT", fileDescriptor: 0, expand: false, chomp: true, content: "\tquoted\n"))
        #expect(docs[0].chompedContent == "quoted\n")
        #expect(docs[1] == Heredoc(name: "X", fileDescriptor: 3, expand: true, chomp: false, content: "plain $v\n"))
        #expect(file.nodes[1].endLine == 6)
    }

    @Test func heredocMarkersOnlyAtTheStartOfAWord() {
        #expect(HeredocWord.parse("<<EOF")?.name == "EOF")
        #expect(HeredocWord.parse("<<E\"O\"F")?.expand == false)
        #expect(HeredocWord.parse("a<<EOF") == nil)
        #expect(HeredocWord.parse("<<EOF<<X") == nil)
        #expect(HeredocWord.parse("<<") == nil)
        #expect(HeredocWord.parse("12<<-A")?.fileDescriptor == 12)
    }

    @Test func onbuildTriggerIsParsedAsAnInstruction() throws {
        let file = try parse("FROM a\nONBUILD COPY --from=x a b\n")
        let trigger = try #require(file.nodes[1].trigger)
        #expect(trigger.command == "copy")
        #expect(trigger.flags == ["--from=x"])
        #expect(trigger.flagPositions == [SourcePosition(line: 2, column: 14)])
    }

    @Test func crlfAndBomAreHandled() throws {
        let file = try DockerfileParser.parse(bytes: [0xEF, 0xBB, 0xBF] + Array("FROM a\r\nRUN b \\\r\n c\r\n".utf8))
        #expect(file.nodes.map(\.original) == ["FROM a", "RUN b  c"])
    }

    @Test func jsonDocumentHasBuildKitKeys() throws {
        let json = SyntaxJSON.render(try parse("FROM a\nENV k=v\n"))
        #expect(
            json.contains(
                "\"cmd\": \"env\", \"sub_cmd\": null, \"json\": false, \"original\": \"ENV k=v\", \"start_line\": 2, \"end_line\": 2, \"flags\": [], \"value\": [\"k\", \"v\"], \"heredocs\": []"
            ))
    }
}
