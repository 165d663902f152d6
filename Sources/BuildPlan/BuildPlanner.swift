// The instruction interpreter: stages → the steps to run and the image configuration, with
// BuildKit's semantics (DOCKERFILE.md §8–12): global and stage ARGs, build args, platform and
// proxy args, each instruction expanded with the environment as it was before it, image config
// inheritance (ENTRYPOINT clears an inherited CMD), target selection and stage dependencies.
// Pure: base images' configurations come in through a callback; nothing touches the disk.
import DockerfileInstructions
import DockerfileSyntax

/// The build's inputs from the command line: build args, the target stage and the platforms.
public struct BuildOptions: Sendable {
    public var buildArgs: [String: String] = [:]
    public var target: String?
    /// os/arch[/variant] of the build's target (Golem VMs are linux/amd64).
    public var targetPlatform = "linux/amd64"
    public var buildPlatform = "linux/amd64"
    public init() {}
}

/// What a stage starts from: nothing (`scratch`), an earlier stage (by index) or an image reference.
public enum BaseImage: Sendable, Equatable {
    case scratch
    case stage(Int)
    case image(String)
}

/// A stage as planned: its base, the steps to run and the image configuration it ends with.
public struct PlannedStage: Sendable {
    public var index: Int
    public var name: String?
    public var base: BaseImage
    public var platform: String?
    /// Where the stage's FROM is (for errors about the base image).
    public var fromPosition: SourcePosition
    public var steps: [Step]
    /// The configuration after the stage's last instruction.
    public var config: ImageConfig
}

/// The planner's result: the stages the target needs and which of them is the target.
public struct BuildPlan: Sendable {
    /// The stages the target needs, in Dockerfile order (dependencies first).
    public var stages: [PlannedStage]
    public var target: Int
    public var targetStage: PlannedStage { stages.first { $0.index == target }! }
}

/// A base image's configuration for a platform (nil: the build's target platform), when known
/// (nil: treat as empty).
public typealias BaseConfigLookup = (_ ref: String, _ platform: String?) -> ImageConfig?

/// Turns a staged Dockerfile into a BuildPlan (BuildKit's semantics; nothing touches the disk).
public enum BuildPlanner {
    static let proxyArgs: Set<String> = [
        "HTTP_PROXY", "HTTPS_PROXY", "FTP_PROXY", "NO_PROXY", "ALL_PROXY",
        "http_proxy", "https_proxy", "ftp_proxy", "no_proxy", "all_proxy"
    ]

    public static func plan(
        _ file: StagedDockerfile, options: BuildOptions = BuildOptions(),
        baseConfig: @escaping BaseConfigLookup = { _, _ in nil }
    ) throws(DockerfileError) -> BuildPlan {
        var planner = Planner(file: file, options: options, baseConfig: baseConfig)
        return try planner.run()
    }
}

struct Planner {
    let file: StagedDockerfile
    let options: BuildOptions
    let baseConfig: BaseConfigLookup
    var escape: Unicode.Scalar { Unicode.Scalar(file.file.escapeToken) }

    /// A base image's ONBUILD trigger as an instruction of this file, placed at the FROM that
    /// inherits it (errors and the build log point there).
    func onBuildInstruction(_ text: String, ref: String, from: SyntaxNode) throws(DockerfileError) -> Instruction {
        func fail(_ why: String) -> DockerfileError { error(from, "ONBUILD trigger \"\(text)\" of \(ref): \(why)") }
        let parsed: Dockerfile
        do { parsed = try DockerfileParser.parse(bytes: Array(text.utf8), path: file.file.path) } catch { throw fail(error.message) }
        guard parsed.nodes.count == 1, let n = parsed.nodes.first else { throw fail("not a single instruction") }
        guard !["from", "onbuild", "maintainer"].contains(n.command) else { throw fail("\(n.keyword) is not allowed as a trigger") }
        let node = SyntaxNode(
            keyword: n.keyword, command: n.command, flags: n.flags, arguments: n.arguments, isJSON: n.isJSON,
            original: n.original, startLine: from.startLine, endLine: from.endLine, heredocs: n.heredocs,
            comments: [], trigger: nil, position: from.position, flagPositions: n.flagPositions.map { _ in from.position },
            argumentsPosition: from.argumentsPosition)
        do { return try InstructionParser.parse(node, file: file.file.path) } catch { throw fail(error.message) }
    }

    func error(_ node: SyntaxNode, _ message: String) -> DockerfileError {
        DockerfileError(file: file.file.path, position: node.argumentsPosition, endLine: node.endLine, message: message)
    }

    /// An error of `node` made from another error: its text the message, the error kept as the cause.
    func error(_ node: SyntaxNode, cause: any Error) -> DockerfileError {
        DockerfileError(file: file.file.path, position: node.argumentsPosition, endLine: node.endLine, message: "\(cause)", cause: cause)
    }

    var platformArgs: [String: String] {
        func split(_ p: String) -> (String, String, String) {
            let parts = p.split(separator: "/").map(String.init)
            return (parts.first ?? "linux", parts.count > 1 ? parts[1] : "amd64", parts.count > 2 ? parts[2] : "")
        }
        let (tos, tarch, tvar) = split(options.targetPlatform)
        let (bos, barch, bvar) = split(options.buildPlatform)
        return [
            "TARGETPLATFORM": options.targetPlatform, "TARGETOS": tos, "TARGETARCH": tarch, "TARGETVARIANT": tvar,
            "BUILDPLATFORM": options.buildPlatform, "BUILDOS": bos, "BUILDARCH": barch, "BUILDVARIANT": bvar,
            "TARGETSTAGE": options.target ?? "default"
        ]
    }

    func expand(_ word: String, _ vars: [String: String], node: SyntaxNode) throws(DockerfileError) -> String {
        do { return try ShellLexer(escapeToken: escape).expand(word, lookup: { vars[$0] }).value } catch {
            throw self.error(node, error.message)
        }
    }

    /// Global ARGs (before the first FROM): defaults expanded in order, build args override.
    func globalArgs() throws(DockerfileError) -> [String: String?] {
        var env = platformArgs
        var result: [String: String?] = [:]
        for instruction in file.metaArgs {
            guard case .arg(let defs) = instruction.kind else { continue }
            for d in defs {
                var value: String? = try d.defaultValue.map { v throws(DockerfileError) in try expand(v, env, node: instruction.node) }
                if let override = options.buildArgs[d.key] { value = override }
                result[d.key] = value
                if let value { env[d.key] = value } else { env[d.key] = nil }
            }
        }
        return result
    }

    mutating func run() throws(DockerfileError) -> BuildPlan {
        let globals = try globalArgs()
        var globalEnv = platformArgs
        for (k, v) in globals { if let v { globalEnv[k] = v } }

        // Resolve every stage's base and its target.
        let stages = file.stages
        var bases: [BaseImage] = []
        for stage in stages {
            let name = try expand(stage.from.baseName, globalEnv, node: stage.fromNode)
            guard !name.isEmpty else { throw error(stage.fromNode, "base name (\(stage.from.baseName)) should not be blank") }
            if name.lowercased() == "scratch" {
                bases.append(.scratch)
            } else if let s = stages.prefix(stage.index).last(where: { $0.name == name.lowercased() }) {
                bases.append(.stage(s.index))
            } else {
                bases.append(.image(name))
            }
        }
        let targetIndex: Int
        if let target = options.target {
            guard let s = file.stage(named: target) else {
                throw DockerfileError(
                    file: file.file.path, position: SourcePosition(line: 1, column: 1),
                    message: "target stage \"\(target)\" could not be found")
            }
            targetIndex = s.index
        } else {
            targetIndex = stages.count - 1
        }

        // Dependencies: FROM <stage>, COPY --from, RUN --mount from=.
        func dependencies(_ i: Int) throws(DockerfileError) -> [Int] {
            var deps: [Int] = []
            if case .stage(let p) = bases[i] { deps.append(p) }
            for instruction in stages[i].instructions {
                var refs: [String] = []
                if case .copy(let c) = instruction.kind, let from = c.from { refs.append(from) }
                if case .run(let r) = instruction.kind { refs += r.mounts.compactMap(\.from) }
                for ref in refs {
                    if ref.contains("$") {
                        throw error(instruction.node, "'from' doesn't support variable expansion, define alias stage instead")
                    }
                    if let s = file.stage(named: ref) {
                        if s.index == i {
                            throw error(instruction.node, "circular dependency detected on stage: \(stages[i].name ?? String(i))")
                        }
                        deps.append(s.index)
                    }
                }
            }
            return deps
        }
        var needed = Set<Int>()
        var visiting = Set<Int>()
        func visit(_ i: Int) throws(DockerfileError) {
            if needed.contains(i) { return }
            guard visiting.insert(i).inserted else {
                throw error(stages[i].fromNode, "circular dependency detected on stage: \(stages[i].name ?? String(i))")
            }
            for d in try dependencies(i) { try visit(d) }
            visiting.remove(i)
            needed.insert(i)
        }
        try visit(targetIndex)

        // Plan the needed stages in order; a stage built on another starts from its state.
        var planned: [Int: (stage: PlannedStage, vars: [String: String], declared: Set<String>)] = [:]
        for i in needed.sorted() {
            let stage = stages[i]
            var config = ImageConfig()
            var vars: [String: String] = [:]
            var declared = Set<String>()
            var triggers: [Instruction] = []
            let platform = try stage.from.platform.map { p throws(DockerfileError) in try expand(p, globalEnv, node: stage.fromNode) }
            switch bases[i] {
            case .stage(let p):
                let parent = planned[p]!
                config = parent.stage.config
                vars = parent.vars
                declared = parent.declared
                config.onBuild = []
            case .image(let ref):
                config = baseConfig(ref, platform) ?? ImageConfig()
                for (k, v) in config.env { vars[k] = v }
                // The base image's ONBUILD triggers run first, then are cleared (as BuildKit does).
                triggers = try config.onBuild.map { t throws(DockerfileError) in try onBuildInstruction(t, ref: ref, from: stage.fromNode) }
                config.onBuild = []
            case .scratch:
                break
            }
            var result = PlannedStage(
                index: i, name: stage.name, base: bases[i], platform: platform,
                fromPosition: stage.fromNode.position, steps: [], config: config)
            var stagePlanner = StagePlanner(planner: self, globals: globals, vars: vars, declared: declared, config: config)
            for instruction in triggers + stage.instructions {
                try stagePlanner.apply(instruction, stageIndexByName: { file.stage(named: $0)?.index }, into: &result.steps)
            }
            result.config = stagePlanner.config
            planned[i] = (result, stagePlanner.vars, stagePlanner.declared)
        }
        return BuildPlan(stages: needed.sorted().map { planned[$0]!.stage }, target: targetIndex)
    }
}
