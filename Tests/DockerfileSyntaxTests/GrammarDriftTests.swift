// grammar/dockerfile.ebnf and the parser must name the same keywords, flags, mount keys and
// directives: a change to one without the other fails here.
import Foundation
import Testing
@testable import DockerfileSyntax

enum Grammar {
    static let text: String = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return (try? String(contentsOf: root.appendingPathComponent("grammar/dockerfile.ebnf"), encoding: .utf8)) ?? ""
    }()

    /// The right-hand side of `rule = ... ;`, comments removed.
    static func rule(_ name: String) -> String {
        var t = text
        while let open = t.range(of: "(*"), let close = t.range(of: "*)", range: open.upperBound..<t.endIndex) {
            t.removeSubrange(open.lowerBound..<close.upperBound)
        }
        let pattern = "(?m)^" + NSRegularExpression.escapedPattern(for: name) + "\\s*=(.*?);\\s*$"
        guard let re = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators]),
            let m = re.firstMatch(in: t, range: NSRange(t.startIndex..., in: t)),
            let r = Range(m.range(at: 1), in: t)
        else { return "" }
        return String(t[r])
    }

    /// Quoted terminals of a rule matching a regular expression.
    static func terminals(_ rule: String, matching pattern: String) -> Set<String> {
        let re = try! NSRegularExpression(pattern: pattern)
        let body = self.rule(rule)
        return Set(
            re.matches(in: body, range: NSRange(body.startIndex..., in: body)).compactMap {
                Range($0.range(at: 1), in: body).map { String(body[$0]) }
            })
    }
}

@Suite struct GrammarDrift {
    @Test func grammarFileIsPresent() {
        #expect(Grammar.text.contains("dockerfile"))
    }

    @Test func keywordsMatchTheArgumentParserTable() {
        let grammar = Grammar.terminals("keyword", matching: "\"([A-Z]+)\"")
        #expect(!grammar.isEmpty)
        #expect(grammar == Set(ArgumentParsers.table.keys.map { $0.uppercased() }))
    }

    @Test func directivesMatchTheDirectiveScanner() {
        #expect(Grammar.terminals("directive-key", matching: "\"([a-z]+)\"") == DirectiveScanner.known)
    }
}
