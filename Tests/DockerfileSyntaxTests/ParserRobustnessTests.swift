// Property test: random mutations of real Dockerfiles never crash the parser or the expander, and
// every error points inside the file. (`make fuzz` runs the libFuzzer target for longer.)
import Foundation
import Testing
@testable import DockerfileSyntax

/// A small deterministic generator (SplitMix64), so failures can be replayed from the seed.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D1_33D0_49BB_1334
        return z ^ (z >> 31)
    }
}

enum Corpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("testdata/parser")

    static func files() -> [[UInt8]] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        return names.filter { $0.hasSuffix(".Dockerfile") }.sorted().compactMap {
            FileManager.default.contents(atPath: directory.appendingPathComponent($0).path).map { Array($0) }
        }
    }

    /// Interesting bytes: every character with meaning somewhere in the language.
    static let alphabet: [UInt8] =
        Array("\\`\"'$#{}[]<>-=:, \t\r\n\u{0B}\u{0C}abcEOF0123456789/*?%".utf8) + [0x00, 0xC3, 0xA9, 0xFF, 0xEF, 0xBB, 0xBF]

    static func mutate(_ input: [UInt8], _ rng: inout SplitMix) -> [UInt8] {
        var bytes = input
        for _ in 0..<Int.random(in: 1...8, using: &rng) {
            let at = bytes.isEmpty ? 0 : Int.random(in: 0...bytes.count, using: &rng)
            switch Int.random(in: 0..<4, using: &rng) {
            case 0: bytes.insert(alphabet.randomElement(using: &rng)!, at: at)
            case 1: if at < bytes.count { bytes.remove(at: at) }
            case 2: if at < bytes.count { bytes[at] = alphabet.randomElement(using: &rng)! }
            default:
                if !bytes.isEmpty {
                    let start = Int.random(in: 0..<bytes.count, using: &rng)
                    let end = min(bytes.count, start + Int.random(in: 1...40, using: &rng))
                    bytes.insert(contentsOf: bytes[start..<end], at: at)
                }
            }
        }
        return bytes
    }
}

@Suite struct ParserRobustness {
    @Test func corpusIsPresent() { #expect(Corpus.files().count > 50) }

    @Test func mutatedDockerfilesNeverCrashAndErrorsPointIntoTheFile() {
        var rng = SplitMix(state: 0x5EED)
        let files = Corpus.files()
        var parsed = 0, rejected = 0
        for round in 0..<4000 {
            let input = Corpus.mutate(files[round % files.count], &rng)
            let lines = input.split(separator: 0x0A, omittingEmptySubsequences: false).count
            do {
                let file = try DockerfileParser.parse(bytes: input, path: "fuzz")
                parsed += 1
                for node in file.nodes {
                    #expect(node.startLine >= 1 && node.startLine <= node.endLine && node.endLine <= lines)
                    #expect(node.position.line >= node.startLine && node.position.line <= node.endLine)
                    // Expansion of every argument must return or throw, never trap.
                    for word in node.arguments.prefix(4) {
                        _ = try? ShellLexer().expand(word, lookup: { $0 == "A" ? "x y" : nil })
                    }
                }
            } catch {
                rejected += 1
                #expect(error.position.line >= 1 && error.position.line <= max(lines, 1), "\(error)")
                #expect(error.position.column >= 1)
                #expect(!error.message.isEmpty)
            }
        }
        #expect(parsed > 1000 && rejected > 10)
    }

    @Test func randomWordsNeverCrashTheExpander() {
        var rng = SplitMix(state: 42)
        let alphabet = Array("${}:-+?#%/\\'\"ab $AB}".unicodeScalars)
        for _ in 0..<20000 {
            var word = ""
            for _ in 0..<Int.random(in: 0...16, using: &rng) { word.unicodeScalars.append(alphabet.randomElement(using: &rng)!) }
            _ = try? ShellLexer().expand(word, lookup: { $0 == "A" ? "v" : nil })
            _ = try? ShellLexer(escapeToken: "`").expandWords(word, lookup: { _ in nil })
        }
    }
}

@Suite struct HeredocFastPath {
    @Test func rawWordSplittingEqualsTheLexerOnLinesWithoutBraceExpansions() {
        var rng = SplitMix(state: 7)
        let alphabet = Array("ab <<-\"'\\$1\t-EOF> ".unicodeScalars)
        var lexer = ShellLexer(escapeToken: "\\")
        lexer.rawQuotes = true
        lexer.rawEscapes = true
        lexer.skipUnsetEnv = true
        var compared = 0
        for _ in 0..<50_000 {
            var line = ""
            for _ in 0..<Int.random(in: 0...20, using: &rng) { line.unicodeScalars.append(alphabet.randomElement(using: &rng)!) }
            if line.contains("${") { continue }
            let expected = try? lexer.expandWords(line, lookup: { _ in nil })
            #expect(HeredocMarker.rawWords(line) == expected, "\(line.debugDescription)")
            compared += 1
        }
        #expect(compared > 40_000)
    }
}
