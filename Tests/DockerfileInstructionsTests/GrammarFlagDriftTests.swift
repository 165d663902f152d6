// The layer-3 flag tables against grammar/dockerfile.ebnf (`*-flags`, `mount-field`).
import Foundation
import Testing
@testable import DockerfileInstructions

private func grammarRule(_ name: String) -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var text = (try? String(contentsOf: root.appendingPathComponent("grammar/dockerfile.ebnf"), encoding: .utf8)) ?? ""
    while let open = text.range(of: "(*"), let close = text.range(of: "*)", range: open.upperBound..<text.endIndex) {
        text.removeSubrange(open.lowerBound..<close.upperBound)
    }
    let re = try! NSRegularExpression(
        pattern: "(?m)^" + NSRegularExpression.escapedPattern(for: name) + "\\s*=(.*?);\\s*$",
        options: [.dotMatchesLineSeparators])
    guard let m = re.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
        let r = Range(m.range(at: 1), in: text)
    else { return "" }
    return String(text[r])
}

private func names(_ body: String, _ pattern: String) -> Set<String> {
    let re = try! NSRegularExpression(pattern: pattern)
    return Set(
        re.matches(in: body, range: NSRange(body.startIndex..., in: body)).compactMap {
            Range($0.range(at: 1), in: body).map { String(body[$0]) }
        })
}

@Suite struct GrammarFlagDrift {
    @Test(arguments: ["from", "run", "copy", "add", "healthcheck"])
    func flagsOfEachInstructionMatchTheGrammar(_ instruction: String) {
        let grammar = names(grammarRule("\(instruction)-flags"), "\"--([a-z-]+)")
        let parser = Set((InstructionParser.flagTable[instruction] ?? []).map(\.0))
        #expect(!grammar.isEmpty)
        #expect(grammar == parser, "\(instruction)")
    }

    @Test func labsFlagsMatchTheGrammar() {
        #expect(names(grammarRule("run-labs-flags"), "\"--([a-z-]+)") == Set(InstructionParser.labsRunFlags.map(\.0)))
    }

    @Test func instructionsWithoutFlagsHaveNoFlagRule() {
        let withRules = Set(["from", "run", "copy", "add", "healthcheck"])
        #expect(Set(InstructionParser.flagTable.keys) == withRules)
    }

    @Test func mountKeysMatchTheGrammar() {
        #expect(names(grammarRule("mount-field"), "\"([a-z]+)\"") == Set(RunMount.allKeys))
    }

    @Test func instructionKeywordsMatchTheGrammar() {
        #expect(names(grammarRule("keyword"), "\"([A-Z]+)\"") == Set(InstructionParser.keywords.map { $0.uppercased() }))
    }
}
