// `gvmc parse`: print a Dockerfile's syntax tree (BuildKit's AST shape as JSON, or a dump).
import ArgumentParser
import DockerfileSyntax
import Foundation

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse", abstract: "Parse a Dockerfile and print its syntax tree.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    @Option(help: "Output format: json (BuildKit's AST keys) or text.")
    var format: Format = .text

    @Argument(help: "The Dockerfile to parse ('-' for standard input).")
    var file: String

    func run() throws {
        let (bytes, name) = try readDockerfile(file)
        do {
            let parsed = try DockerfileParser.parse(bytes: bytes, path: name)
            switch format {
            case .json: print(SyntaxJSON.render(parsed), terminator: "")
            case .text:
                for node in parsed.nodes {
                    print("\(node.startLine)-\(node.endLine) \(node.command) \(node.flags) \(node.trigger.map { $0.command + " " + $0.astValues.description } ?? node.astValues.description)\(node.isJSON ? " (exec form)" : "")")
                }
                for w in parsed.warnings { printError("\(name):\(w.position): warning: \(w.message)") }
            }
        } catch {
            switch format {
            case .json: print(SyntaxJSON.render(error: error), terminator: "")
            case .text: printError("error: \(error)")
            }
            throw ExitCode(1)
        }
    }
}

/// Reads a Dockerfile from a path or standard input, with an error naming the file.
func readDockerfile(_ path: String) throws -> ([UInt8], String) {
    if path == "-" {
        return (Array(FileHandle.standardInput.readDataToEndOfFile()), "<stdin>")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw ValidationError("cannot read \(path): no such file or not readable")
    }
    return (Array(data), path)
}

func printError(_ message: String) {
    FileHandle.standardError.write(Array((message + "\n").utf8).withUnsafeBufferPointer { Data($0) })
}
