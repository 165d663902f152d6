// gvmc run in a pseudo-terminal (through `script`), for the tests of the live tty view.
import Foundation

enum PseudoTerminal {
    static let available = Tools.exists("script")

    /// Runs gvmc with `arguments` in a terminal of `columns` × 30 (NO_COLOR set, plus `env`),
    /// recording it in `typescript`: its exit status, the output as drawn, and its lines without
    /// the erase-line sequences and carriage returns.
    static func run(
        _ arguments: [String], columns: Int, env: [String: String] = [:], typescript: String
    )
        -> (status: Int32, screen: String, lines: [String])
    {
        func quoted(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'" }
        let variables = (["NO_COLOR": "1"].merging(env) { $1 }).map { "\($0)=\(quoted($1))" }.sorted().joined(separator: " ")
        let command =
            "stty cols \(columns) rows 30; env \(variables) \(quoted(GVMCBinary.path)) " + arguments.map(quoted).joined(separator: " ")
        let r = Tools.run(["script", "-qfec", command, typescript])
        let screen = String(decoding: FileManager.default.contents(atPath: typescript) ?? Data(), as: UTF8.self)
        // "\r\n" is one Character: split on both.
        let lines = screen.split(whereSeparator: \.isNewline)
            .map { $0.replacingOccurrences(of: "\u{1B}[2K", with: "").replacingOccurrences(of: "\r", with: "") }
        return (r.status, screen, lines)
    }
}
