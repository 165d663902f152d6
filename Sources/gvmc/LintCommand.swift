// `gvmc lint`: Golem-compatibility rules and BuildKit's build checks, in formats CI tools read.
// Exit status: 0 clean (or below the threshold), 1 findings at or above it, 2 usage or I/O error.
import BuildCache
import ArgumentParser
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Foundation
import GVMI
import ImageSpec
import Lint
import Executor
import Registry
import SquashFS

extension OutputFormat: ExpressibleByArgument {}
extension Severity: ExpressibleByArgument {}

struct LintCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lint",
        abstract: "Check Dockerfiles (and .gvmi images) for what breaks or is ignored on Golem.",
        discussion:
            "Suppress a rule for one instruction with `# gvmc ignore=GVM001,GVM014` on the line above it, or BuildKit's `# check=skip=...`. A .gvmc.yaml found upward from the Dockerfile can set ignored rules, severity overrides and the failure threshold."
    )

    @Argument(help: "Dockerfiles to check ('-' reads standard input). Default: ./Dockerfile.")
    var files: [String] = []

    @Option(name: .shortAndLong, help: "Output format: tty, json, sarif, github, checkstyle, gnu.")
    var format: OutputFormat = .tty

    @Option(help: "Ignore a rule (repeatable).")
    var ignore: [String] = []
    @Option(help: "Report a rule as an error (repeatable).")
    var error: [String] = []
    @Option(help: "Report a rule as a warning (repeatable).")
    var warning: [String] = []
    @Option(help: "Report a rule as info (repeatable).")
    var info: [String] = []
    @Option(help: "Enable an experimental BuildKit check (repeatable; 'all' for every one).")
    var experimental: [String] = []

    @Option(help: "Exit 1 when a finding is at or above: error, warning (default), info, none.")
    var failureThreshold: Severity?

    @Flag(help: "Always exit 0 when the files could be checked.")
    var noFail = false

    @Option(help: "Configuration file (default: the nearest .gvmc.yaml).")
    var config: String?

    @Flag(help: "Do not read any .gvmc.yaml.")
    var noConfig = false

    @Option(
        help: ArgumentHelp(
            "A base image's configuration JSON ([IMAGE=]FILE, as `skopeo inspect --config` prints it); rules then see inherited Env, Cmd/Entrypoint, User, Volumes and platform. Repeatable; without IMAGE= it applies to every external base.",
            valueName: "[image=]file"))
    var baseConfig: [String] = []

    @Flag(
        help:
            "Fetch the configuration of every external base image (manifest and config only, no layers) so rules see inherited Env, Cmd/Entrypoint, User, Volumes and platform."
    )
    var pull = false

    @OptionGroup var registry: RegistryFlags

    @Option(help: "Also check a built .gvmi image (rules GVM005, GVM018, GVM020, GVM021).")
    var image: [String] = []

    @Option(help: "Explain a rule: rationale, an example that triggers it, and the fix.")
    var explain: String?

    @Flag(help: "List every rule.")
    var listRules = false

    @Flag(help: "No colors in tty output (also: NO_COLOR).")
    var noColor = false

    /// The parsed options as plain values.
    var request: LintRequest {
        LintRequest(
            files: files, format: format, ignore: ignore, error: error, warning: warning, info: info,
            experimental: experimental, failureThreshold: failureThreshold, noFail: noFail, config: config,
            noConfig: noConfig, baseConfig: baseConfig, pull: pull, image: image, noColor: noColor)
    }

    func run() throws {
        if let explain { try printExplanation(explain); return }
        if listRules {
            for r in RuleCatalog.all { print("\(r.id.padding(32)) \(r.severity.rawValue.padding(8)) \(r.summary)") }
            return
        }
        try request.run(puller: { [registry] in
            CacheUse.holdShared(registry.cacheDirectory)
            return try registry.puller(platform: "linux/amd64", quiet: true)
        })
    }

    func printExplanation(_ id: String) throws {
        guard let rule = RuleCatalog.byID[id] ?? RuleCatalog.all.first(where: { $0.id.lowercased() == id.lowercased() }) else {
            printError("gvmc lint: unknown rule \(id) (gvmc lint --list-rules lists them)")
            throw ExitCode(2)
        }
        print(
            "\(rule.id) (\(rule.severity.rawValue)\(rule.needsImage ? ", needs the built image" : "")\(rule.experimental ? ", experimental" : "")): \(rule.summary)\n"
        )
        print("Why:\n  \(rule.rationale)\n")
        print("Example that triggers it:\n" + rule.example.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")
        print("Fix:\n  \(rule.fix)")
        if let url = rule.url { print("\nMore: \(url)") }
    }
}

/// Lint's inputs as plain values, from ArgumentParser (`LintCommand`) or from `fastParse`.
struct LintRequest: Equatable {
    var files: [String] = []
    var format: OutputFormat = .tty
    var ignore: [String] = []
    var error: [String] = []
    var warning: [String] = []
    var info: [String] = []
    var experimental: [String] = []
    var failureThreshold: Severity?
    var noFail = false
    var config: String?
    var noConfig = false
    var baseConfig: [String] = []
    var pull = false
    var image: [String] = []
    var noColor = false

    /// The arguments after `lint`, when they use only file names and the plain options (each
    /// as `--name value` or `--name=value`); nil sends them to ArgumentParser, which handles
    /// everything else (help, errors, --pull, registry flags, --explain, ...). ArgumentParser
    /// builds its argument sets by reflection, which costs a lint of one file about half of
    /// its run time; editors and pre-commit hooks start gvmc once per file.
    static func fastParse(_ args: ArraySlice<String>) -> LintRequest? {
        var r = LintRequest()
        var i = args.startIndex
        while i < args.endIndex {
            let arg = args[i]
            i += 1
            if arg == "-" || !arg.hasPrefix("-") { r.files.append(arg); continue }
            var name = arg, value: String?
            if arg.hasPrefix("--"), let eq = arg.firstIndex(of: "=") {
                name = String(arg[..<eq]); value = String(arg[arg.index(after: eq)...])
            }
            switch name {
            case "--no-fail": guard value == nil else { return nil }; r.noFail = true; continue
            case "--no-config": guard value == nil else { return nil }; r.noConfig = true; continue
            case "--no-color": guard value == nil else { return nil }; r.noColor = true; continue
            case "-f", "--format", "--ignore", "--error", "--warning", "--info", "--experimental", "--failure-threshold",
                "--config", "--base-config":
                break
            default: return nil
            }
            if value == nil {
                guard i < args.endIndex, !args[i].hasPrefix("-") else { return nil }
                value = args[i]
                i += 1
            }
            let v = value!
            switch name {
            case "-f", "--format": guard let f = OutputFormat(rawValue: v) else { return nil }; r.format = f
            case "--ignore": r.ignore.append(v)
            case "--error": r.error.append(v)
            case "--warning": r.warning.append(v)
            case "--info": r.info.append(v)
            case "--experimental": r.experimental.append(v)
            case "--failure-threshold": guard let t = Severity(rawValue: v) else { return nil }; r.failureThreshold = t
            case "--config": r.config = v
            default: r.baseConfig.append(v)
            }
        }
        return r
    }

    func run(puller: () throws -> ImagePuller) throws {
        let targets = files.isEmpty && image.isEmpty ? ["Dockerfile"] : files
        var findings: [Finding] = []
        var sources: [String: [UInt8]] = [:]
        var threshold = failureThreshold
        var baseConfigs: [String: ImageConfiguration] = [:]
        for spec in baseConfig {
            let (image, file): (String, String)
            if let eq = spec.firstIndex(of: "="), !spec[..<eq].contains("/") || spec[..<eq].contains(":") {
                (image, file) = (String(spec[..<eq]), String(spec[spec.index(after: eq)...]))
            } else {
                (image, file) = ("*", spec)
            }
            guard let data = FileManager.default.contents(atPath: file) else {
                printError("gvmc lint: cannot read --base-config \(file)")
                throw ExitCode(2)
            }
            do { baseConfigs[image] = try ImageConfiguration(baseConfig: Array(data), source: file) } catch {
                printError("gvmc lint: \(error)")
                throw ExitCode(2)
            }
        }
        for path in targets {
            let bytes: [UInt8]
            let display: String
            if path == "-" {
                bytes = Array(FileHandle.standardInput.readDataToEndOfFile()); display = "<stdin>"
            } else {
                guard let data = FileManager.default.contents(atPath: path) else {
                    printError("gvmc lint: cannot read \(path)")
                    throw ExitCode(2)
                }
                bytes = Array(data); display = path
            }
            sources[display] = bytes
            let directory = path == "-" ? "." : (path as NSString).deletingLastPathComponent
            var options = LintOptions()
            var fileConfig = LintConfig()
            if !noConfig, let configPath = config ?? LintConfig.find(from: directory.isEmpty ? "." : directory) {
                guard let text = try? String(contentsOfFile: configPath, encoding: .utf8) else {
                    printError("gvmc lint: cannot read \(configPath)")
                    throw ExitCode(2)
                }
                do { fileConfig = try LintConfig(path: configPath, text: text) } catch {
                    printError("gvmc lint: \(error)")
                    throw ExitCode(2)
                }
            }
            options.baseConfigs = baseConfigs
            if pull { try pullBaseConfigs(bytes, display, into: &options.baseConfigs, puller: try puller()) }
            options.ignored = fileConfig.ignored.union(ignore)
            options.severity = fileConfig.severity
            for r in error { options.severity[r] = .error }
            for r in warning { options.severity[r] = .warning }
            for r in info { options.severity[r] = .info }
            options.experimental = fileConfig.experimental.union(
                experimental.contains("all") ? Set(RuleCatalog.all.filter(\.experimental).map(\.id)) : Set(experimental))
            if threshold == nil { threshold = fileConfig.failureThreshold }
            for id in options.ignored.union(options.severity.keys) where RuleCatalog.byID[id] == nil && id != "syntax" {
                printError("gvmc lint: unknown rule \(id) (gvmc lint --list-rules lists them)")
                throw ExitCode(2)
            }
            let ignorePath = (directory.isEmpty ? "." : directory) + "/.dockerignore"
            if let text = try? String(contentsOfFile: ignorePath, encoding: .utf8) { options.dockerIgnore = DockerIgnore(text: text) }
            findings += DockerfileLinter.lint(bytes: bytes, path: display, options: options)
        }
        for path in image {
            do {
                let report = try GVMIInspector.inspect(path: path)
                let entries = try SquashFSReader(path: path).entries()
                findings += ImageRules.check(
                    entries: entries, volumes: report.config.volumes ?? [],
                    compression: report.superblock.compression, imageSize: report.size, file: path
                )
                .filter { !ignore.contains($0.rule) }
            } catch {
                printError("gvmc lint: \(path): \(error)")
                throw ExitCode(2)
            }
        }
        let color = !noColor && format == .tty && isatty(1) != 0 && ProcessInfo.processInfo.environment["NO_COLOR"] == nil
        let output = FindingFormatter.render(
            findings, format: format, files: targets.map { $0 == "-" ? "<stdin>" : $0 } + image,
            sources: sources, color: color, version: GVMC.configuration.version)
        FileHandle.standardOutput.write(Data(output.utf8))
        let limit = threshold ?? .warning
        if !noFail && limit != .none && findings.contains(where: { $0.severity >= limit && $0.severity != .none }) {
            throw ExitCode(1)
        }
    }

    /// `--pull`: the external bases the file names (FROM expanded with the global ARG defaults, as
    /// the planner does), each fetched once; a failure is a usage/I/O error (exit 2).
    func pullBaseConfigs(_ bytes: [UInt8], _ display: String, into configs: inout [String: ImageConfiguration], puller: ImagePuller) throws
    {
        guard let parsed = try? DockerfileParser.parse(bytes: bytes, path: display),
            let staged = try? StagedDockerfile.parse(parsed)
        else { return }
        final class Refs { var names: [String] = [] }
        let refs = Refs()
        _ = try? BuildPlanner.plan(
            staged,
            baseConfig: { ref, _ in
                refs.names.append(ref); return nil
            })
        for ref in refs.names where configs[ref] == nil {
            do {
                let blob = try puller.pullConfig(try ImageSource(ref))
                configs[ref] = try ImageConfiguration(baseConfig: blob.bytes, source: ref)
            } catch {
                printError("gvmc lint: --pull \(ref): \(error)")
                throw ExitCode(2)
            }
        }
    }
}

extension String {
    func padding(_ width: Int) -> String { count >= width ? self : self + String(repeating: " ", count: width - count) }
}
