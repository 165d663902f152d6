// `gvmc debug`: developer tools to check front-end pieces against BuildKit row by row.
import ArgumentParser
import DockerfileSyntax
import GVMI
import Sandbox
import SSHAgent
import SquashFS
import Foundation

struct DebugCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "debug", abstract: "Developer tools.",
        subcommands: [ExpandCommand.self, ParseBenchCommand.self, DigestCommand.self, SandboxRunCommand.self, SSHAgentCommand.self])
}

/// The agent `--ssh ID=KEYFILE` starts, for a command on the host (tests use ssh-add and
/// ssh-keygen -Y sign against it).
struct SSHAgentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ssh-agent", abstract: "Run COMMAND with SSH_AUTH_SOCK set to gvmc's agent for the key files.")

    @Option(name: .customLong("key"), help: "A private key file (repeatable).")
    var keys: [String] = []

    @Argument(parsing: .captureForPassthrough, help: "The command.")
    var command: [String] = []

    func run() throws {
        let args = command.first == "--" ? Array(command.dropFirst()) : command
        guard !args.isEmpty else { throw ValidationError("a command is needed") }
        let agent: SSHKeyAgent
        do { agent = try SSHKeyAgent(keys: try keys.flatMap { try SSHPrivateKey.load($0) }) } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        defer { agent.stop() }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        var environment = ProcessInfo.processInfo.environment
        environment["SSH_AUTH_SOCK"] = agent.socketPath
        p.environment = environment
        try p.run()
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw ExitCode(p.terminationStatus) }
    }
}

struct ExpandCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "expand",
        abstract: "Expand shell words read from stdin, one per line: WORD<TAB>k=v;k=v<TAB>ESCAPE.",
        discussion: """
            The environment and escape columns are optional (escape defaults to \\). Each output line is \
            the expanded word, or a line starting with ERROR. With --words the result is split into words \
            and printed as a JSON array.
            """)

    @Flag(help: "Split the result into words (as EXPOSE does) and print them as a JSON list.")
    var words = false

    func run() throws {
        var output = ""
        while let line = readLine(strippingNewline: true) {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            var env: [String: String] = [:]
            if columns.count > 1, !columns[1].isEmpty {
                for pair in columns[1].split(separator: ";") {
                    let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                    env[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
                }
            }
            let escape: Unicode.Scalar = columns.count > 2 && columns[2] == "`" ? "`" : "\\"
            let lexer = ShellLexer(escapeToken: escape)
            do {
                if words {
                    let result = try lexer.expandWords(columns[0], lookup: { env[$0] })
                    output += "[" + result.map(SyntaxJSON.quote).joined(separator: ", ") + "]\n"
                } else {
                    output += try lexer.expand(columns[0], lookup: { env[$0] }).value + "\n"
                }
            } catch {
                output += "ERROR \(error.message)\n"
            }
        }
        print(output, terminator: "")
    }
}

struct ParseBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse-bench",
        abstract: "Parse files repeatedly in-process and report throughput (used by `make bench`).")

    @Option(help: "Minimum seconds to run.")
    var seconds: Double = 2

    @Argument(help: "Dockerfiles to parse.")
    var files: [String]

    func run() throws {
        let inputs = try files.map { try readDockerfile($0) }
        let totalBytes = inputs.reduce(0) { $0 + $1.0.count }
        var iterations = 0
        var instructions = 0
        let clock = ContinuousClock()
        let start = clock.now
        var elapsed: Duration = .zero
        repeat {
            for (bytes, name) in inputs {
                let file = try? DockerfileParser.parse(bytes: bytes, path: name)
                instructions += file?.nodes.count ?? 0
            }
            iterations += 1
            elapsed = clock.now - start
        } while elapsed < .seconds(seconds)
        let secondsTaken = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let mb = Double(totalBytes * iterations) / 1_000_000
        let perFile = secondsTaken / Double(iterations * inputs.count) * 1e6
        print(
            String(
                format: "parse: %d file(s), %d bytes, %d rounds: %.1f MB/s, %.1f µs per file, %d instructions/round",
                inputs.count, totalBytes, iterations, mb / secondsTaken, perFile, instructions / iterations))
    }
}

struct DigestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest", abstract: "Print the SHA-256 and SHA3-224 of files (checks the hash code).")

    @Argument var files: [String]

    func run() throws {
        for path in files {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            var sha3 = SHA3_224()
            var sha256 = SHA256()
            data.withUnsafeBytes {
                sha3.update($0); sha256.update($0)
            }
            print("\(sha256.finalize().hexString) \(sha3.finalize().hexString) \(path)")
        }
    }
}

struct SandboxRunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a command in the RUN sandbox with ROOTFS as / (needs root).")

    @Argument(help: "The root filesystem directory.") var rootfs: String
    @Option(help: "Network: default (host) or none.") var network = "default"
    @Option(help: "User as uid:gid.") var user = "0:0"
    @Option(help: "Working directory inside the root.") var workdir = "/"
    @Option(help: "Environment KEY=VALUE (repeatable).") var env: [String] = [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    ]
    @Argument(parsing: .postTerminator, help: "The command after --.") var command: [String] = []

    func run() throws {
        let ids = user.split(separator: ":").compactMap { UInt32($0) }
        guard ids.count == 2 else { throw ValidationError("--user needs numeric uid:gid") }
        guard network == "default" || network == "none" else { throw ValidationError("--network is default or none") }
        var spec = SandboxSpec(
            rootfs: rootfs.hasPrefix("/") ? rootfs : FileManager.default.currentDirectoryPath + "/" + rootfs,
            arguments: command.isEmpty ? ["/bin/sh"] : command, environment: env)
        spec.uid = ids[0]; spec.gid = ids[1]; spec.workingDirectory = workdir
        spec.isolateNetwork = network == "none"
        do {
            let status = try Sandbox.run(spec)
            if status != 0 { throw ExitCode(status) }
        } catch let e as SandboxError {
            printError("error: \(e)")
            throw ExitCode(125)
        }
    }
}
