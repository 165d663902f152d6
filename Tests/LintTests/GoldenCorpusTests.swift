// Realistic Golem Dockerfiles (testdata/lint) with reviewed findings (NAME.expected, gnu format).
// Set GVMC_UPDATE_GOLDEN=1 to rewrite the expected files after reviewing a change.
import Foundation
import Lint
import Testing

enum LintCorpus {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("testdata/lint")

    static var names: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [])
            .filter { $0.hasSuffix(".Dockerfile") }.sorted()
    }
}

@Suite struct LintGoldenCorpus {
    @Test func corpusIsPresent() { #expect(LintCorpus.names.count >= 8) }

    @Test(arguments: LintCorpus.names)
    func findingsMatchTheReviewedGoldenFile(_ name: String) throws {
        let path = LintCorpus.directory.appendingPathComponent(name)
        let bytes = Array(try Data(contentsOf: path))
        let findings = DockerfileLinter.lint(bytes: bytes, path: name)
        let rendered = FindingFormatter.render(findings, format: .gnu, files: [name], sources: [:], color: false, version: "test")
        let golden = path.deletingPathExtension().appendingPathExtension("expected")
        if ProcessInfo.processInfo.environment["GVMC_UPDATE_GOLDEN"] == "1" {
            try rendered.write(to: golden, atomically: true, encoding: .utf8)
        }
        let expected = try String(contentsOf: golden, encoding: .utf8)
        #expect(rendered == expected, "\(name):\n\(rendered)")
    }
}
