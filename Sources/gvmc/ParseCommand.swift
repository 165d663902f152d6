// `gvmc parse`: print a Dockerfile's syntax tree (BuildKit's AST shape as JSON, or a dump).
import ArgumentParser
import DockerfileInstructions
import DockerfileSyntax
import Foundation

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse", abstract: "Parse a Dockerfile and print its syntax tree.")

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, text }

    @Option(help: "Output format: json (BuildKit's AST keys) or text.")
    var format: Format = .text

    @Flag(help: "Also validate every instruction (flags, argument counts, stages) as a build would.")
    var validate = false

    @Argument(help: "The Dockerfile to parse ('-' for standard input).")
    var file: String

    func run() throws {
        let (bytes, name) = try readDockerfile(file)
        do {
            let parsed = try DockerfileParser.parse(bytes: bytes, path: name)
            let staged = validate ? try StagedDockerfile.parse(parsed) : nil
            if let staged, format == .text {
                printStages(staged)
                return
            }
            switch format {
            case .json: print(SyntaxJSON.render(parsed), terminator: "")
            case .text:
                for node in parsed.nodes {
                    print(
                        "\(node.startLine)-\(node.endLine) \(node.command) \(node.flags) \(node.trigger.map { $0.command + " " + $0.astValues.description } ?? node.astValues.description)\(node.isJSON ? " (exec form)" : "")"
                    )
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

func printError(_ message: String, terminator: String = "\n") {
    FileHandle.standardError.write(Array((message + terminator).utf8).withUnsafeBufferPointer { Data($0) })
}

/// A readable summary of a validated Dockerfile.
func printStages(_ staged: StagedDockerfile) {
    let path = staged.file.path
    print("\(path): \(staged.file.nodes.count) instructions, \(staged.stages.count) stage(s), \(staged.metaArgs.count) global ARG(s)")
    for d in staged.file.directives { print("  directive \(d.name)=\(d.value)") }
    for stage in staged.stages {
        let name = stage.name.map { " AS \($0)" } ?? ""
        let platform = stage.from.platform.map { " --platform=\($0)" } ?? ""
        print("  stage \(stage.index): FROM\(platform) \(stage.from.baseName)\(name)  (line \(stage.fromNode.startLine))")
        for instruction in stage.instructions {
            print(
                "    \(instruction.node.startLine):\(instruction.node.position.column) \(instruction.node.keyword.uppercased()) \(summary(instruction.kind))"
            )
        }
    }
    for w in staged.file.warnings { printError("\(path):\(w.position): warning: \(w.message)") }
}

func summary(_ kind: InstructionKind) -> String {
    switch kind {
    case .run(let r):
        let mounts = r.mounts.isEmpty ? "" : " [\(r.mounts.count) mount(s)]"
        return (r.command.prependShell ? "shell: " : "exec: ") + r.command.arguments.joined(separator: " ") + mounts
            + (r.command.files.isEmpty ? "" : " [heredocs: \(r.command.files.map(\.name).joined(separator: ", "))]")
    case .cmd(let c): return (c.prependShell ? "shell: " : "exec: ") + c.arguments.description
    case .entrypoint(let e): return e.map { ($0.prependShell ? "shell: " : "exec: ") + $0.arguments.description } ?? "(cleared)"
    case .copy(let c):
        return (c.sources.sourcePaths + c.sources.sourceContents.map { "<<\($0.path)" }).joined(separator: " ")
            + " -> " + c.sources.destination + (c.from.map { " (from \($0))" } ?? "")
    case .add(let a): return a.sources.sourcePaths.joined(separator: " ") + " -> " + a.sources.destination
    case .env(let kv), .label(let kv): return kv.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
    case .arg(let args): return args.map { $0.key + ($0.defaultValue.map { "=" + $0 } ?? "") }.joined(separator: " ")
    case .volume(let v): return v.joined(separator: " ")
    case .expose(let p): return p.joined(separator: " ")
    case .workdir(let s), .user(let s), .stopSignal(let s), .maintainer(let s): return s
    case .shell(let s): return s.description
    case .healthcheck(let h): return h.test.description
    case .onbuild(let expression, _): return expression
    case .from(let f): return f.baseName
    }
}
