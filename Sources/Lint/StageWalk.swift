// Walks the stages as a build would, statically: the variables each instruction sees (ARG/ENV of
// the stage, inherited through FROM <stage>), and its working directory. Rules read from here.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import ImageSpec

/// An instruction with the state in force just before it.
struct WalkedInstruction {
    var instruction: Instruction
    /// Variables visible to the instruction (values may be nil: declared ARG without value).
    var variables: [String: String?]
    var workdir: String
}

struct WalkedStage {
    var stage: Stage
    var instructions: [WalkedInstruction]
    /// The stage's base is fully known (scratch, or a chain of stages of this file ending in scratch),
    /// so every variable it can see is known.
    var environmentKnown: Bool
    /// The resolved base (after expanding global ARGs), when it could be resolved.
    var baseName: String?
    var isScratch: Bool
    /// The configuration of the external base image, when given.
    var baseConfig: ImageConfiguration?
    /// The nearest stage of this file the stage is built on (FROM <stage>), if any.
    var parentIndex: Int?
    var initialVariables: [String: String?] = [:]
    var initialWorkdir = "/"
}

/// The platform args BuildKit predefines for FROM lines (linux/amd64 is Golem's platform).
let platformArgs: [String: String] = [
    "TARGETPLATFORM": "linux/amd64", "TARGETOS": "linux", "TARGETARCH": "amd64", "TARGETVARIANT": "",
    "BUILDPLATFORM": "linux/amd64", "BUILDOS": "linux", "BUILDARCH": "amd64", "BUILDVARIANT": ""
]

struct StageWalker {
    let file: StagedDockerfile
    let baseConfigs: [String: ImageConfiguration]
    /// Global ARGs with their defaults (nil: declared without a value).
    var globalArgs: [String: String?] = [:]
    var globalArgOrder: [String] = []

    init(file: StagedDockerfile, baseConfigs: [String: ImageConfiguration] = [:]) {
        self.file = file
        self.baseConfigs = baseConfigs
        var env = platformArgs.mapValues { Optional($0) }
        for instruction in file.metaArgs {
            guard case .arg(let defs) = instruction.kind else { continue }
            for def in defs {
                var value = def.defaultValue
                if let v = value { value = try? expand(v, env) }
                env[def.key] = value
                if globalArgs[def.key] == nil { globalArgOrder.append(def.key) }
                globalArgs[def.key] = value
            }
        }
    }

    /// Expands with a variables map (nil values are unset).
    func expand(_ word: String, _ variables: [String: String?], escape: Unicode.Scalar = "\\") throws -> String {
        try ShellLexer(escapeToken: escape).expand(word, lookup: { variables[$0] ?? nil }).value
    }

    var escape: Unicode.Scalar { Unicode.Scalar(file.file.escapeToken) }

    func globalEnvironment() -> [String: String?] {
        var env = platformArgs.mapValues { Optional($0) }
        for (k, v) in globalArgs { env[k] = v }
        return env
    }

    func walk() -> [WalkedStage] {
        var result: [WalkedStage] = []
        for stage in file.stages {
            var variables: [String: String?] = [:]
            var workdir = "/"
            var known = false
            let base = try? expand(stage.from.baseName, globalEnvironment(), escape: escape)
            let isScratch = base?.lowercased() == "scratch"
            if isScratch { known = true }
            var baseConfig: ImageConfiguration?
            var parentIndex: Int?
            if let base, let parent = result.first(where: { $0.stage.name == base.lowercased() && $0.stage.index < stage.index }) {
                variables = parent.instructions.last.map { finalVariables(after: $0) } ?? parent.initialVariables
                workdir = parent.instructions.last.map { finalWorkdir(after: $0) } ?? parent.initialWorkdir
                known = parent.environmentKnown
                baseConfig = parent.baseConfig
                parentIndex = parent.stage.index
            } else if !isScratch, let base, let config = baseConfigs[base] ?? baseConfigs["*"] {
                // A known external base: its environment and working directory are inherited.
                baseConfig = config
                for (k, v) in config.inheritedEnv { variables[k] = .some(v) }
                workdir = config.inheritedWorkingDir.map { resolvePath($0, against: "/") } ?? "/"
                known = true
            }
            let initialVariables = variables
            let initialWorkdir = workdir
            var walked: [WalkedInstruction] = []
            for instruction in stage.instructions {
                walked.append(WalkedInstruction(instruction: instruction, variables: variables, workdir: workdir))
                apply(instruction, to: &variables, workdir: &workdir)
            }
            result.append(
                WalkedStage(
                    stage: stage, instructions: walked, environmentKnown: known, baseName: base,
                    isScratch: isScratch, baseConfig: baseConfig, parentIndex: parentIndex,
                    initialVariables: initialVariables, initialWorkdir: initialWorkdir))
        }
        return result
    }

    func finalVariables(after last: WalkedInstruction) -> [String: String?] {
        var v = last.variables
        var w = last.workdir
        apply(last.instruction, to: &v, workdir: &w)
        return v
    }

    func finalWorkdir(after last: WalkedInstruction) -> String {
        var v = last.variables
        var w = last.workdir
        apply(last.instruction, to: &v, workdir: &w)
        return w
    }

    func apply(_ instruction: Instruction, to variables: inout [String: String?], workdir: inout String) {
        let before = variables
        switch instruction.kind {
        case .env(let pairs):
            for p in pairs {
                let key = (try? expand(p.key, before, escape: escape)) ?? p.key
                variables[key] = .some((try? expand(p.value, before, escape: escape)) ?? p.value)
            }
        case .arg(let defs):
            for d in defs {
                if let value = d.defaultValue {
                    variables[d.key] = .some((try? expand(value, before, escape: escape)) ?? value)
                } else if let global = globalArgs[d.key] {
                    variables[d.key] = .some(global)
                } else if variables[d.key] == nil {
                    variables[d.key] = .some(nil)
                }
            }
        case .workdir(let path):
            let expanded = (try? expand(path, before, escape: escape)) ?? path
            workdir = resolvePath(expanded, against: workdir)
        default:
            break
        }
    }
}

/// True when `path` equals `ancestor` or lies below it (component-wise).
func isAtOrBelow(_ path: String, _ ancestor: String) -> Bool {
    if ancestor == "/" { return true }
    return path == ancestor || path.hasPrefix(ancestor + "/")
}
