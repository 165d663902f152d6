// Typed instructions: BuildKit's layer 3. Each syntax node becomes one of these after its flags,
// argument counts and values are validated (InstructionParser). Nothing is expanded here.
import DockerfileSyntax

/// A command line of RUN, CMD, ENTRYPOINT or HEALTHCHECK.
public struct CommandLine: Sendable, Equatable {
    /// The words of the exec form, or a single element holding the shell-form text.
    public var arguments: [String]
    /// True for the shell form: the stage's SHELL is put in front at build time.
    public var prependShell: Bool
    /// Heredoc bodies given on the line (RUN only).
    public var files: [Heredoc]
}

/// `key=value` of ENV and LABEL.
public struct KeyValue: Sendable, Equatable {
    public var key: String
    public var value: String
    /// The legacy `ENV key value` form (lint LegacyKeyValueFormat).
    public var legacyForm: Bool
}

/// `name[=default]` of ARG.
public struct ArgDefinition: Sendable, Equatable {
    public var key: String
    public var defaultValue: String?
    /// The description from a `# name description` comment right above.
    public var documentation: String?
}

/// An inline file of COPY/ADD given as a heredoc.
public struct InlineSource: Sendable, Equatable {
    public var path: String
    public var data: String
    public var expand: Bool
}

/// The sources (paths and heredocs) and the destination of a COPY or ADD.
public struct SourcesAndDestination: Sendable, Equatable {
    public var sourcePaths: [String]
    public var sourceContents: [InlineSource]
    public var destination: String
}

/// FROM: the base image, the stage name and `--platform`.
public struct FromInstruction: Sendable, Equatable {
    public var baseName: String
    /// The stage name, lowercased (nil without `AS`).
    public var stageName: String?
    public var platform: String?
    /// The `AS` word as written (for the FromAsCasing check).
    public var asKeyword: String?
}

/// RUN: the command and its flags (`--mount`, `--network`, `--security`, `--device`).
public struct RunInstruction: Sendable, Equatable {
    public var command: CommandLine
    public var mounts: [RunMount]
    public var network: String
    public var security: String
    public var devices: [String]
    public var flagsUsed: Set<String>
}

/// COPY: its sources and destination, `--from` and the other flags.
public struct CopyInstruction: Sendable, Equatable {
    public var sources: SourcesAndDestination
    public var from: String?
    public var chown: String?
    public var chmod: String?
    public var link: Bool
    public var parents: Bool
    public var excludes: [String]
}

/// ADD: its sources and destination and its flags (`--checksum`, `--unpack`, `--keep-git-dir`, ...).
public struct AddInstruction: Sendable, Equatable {
    public var sources: SourcesAndDestination
    public var chown: String?
    public var chmod: String?
    public var link: Bool
    public var keepGitDir: Bool?
    public var checksum: String?
    public var unpack: Bool?
    public var excludes: [String]
}

/// Docker's HealthcheckConfig; durations in nanoseconds, 0 meaning "default".
public struct Healthcheck: Sendable, Equatable {
    public var test: [String]
    public var interval: Int64 = 0
    public var timeout: Int64 = 0
    public var startPeriod: Int64 = 0
    public var startInterval: Int64 = 0
    public var retries: Int = 0
}

/// One validated instruction.
public enum InstructionKind: Sendable, Equatable {
    case from(FromInstruction)
    case run(RunInstruction)
    case cmd(CommandLine)
    case entrypoint(CommandLine?)
    case shell([String])
    case env([KeyValue])
    case label([KeyValue])
    case arg([ArgDefinition])
    case copy(CopyInstruction)
    case add(AddInstruction)
    case workdir(String)
    case user(String)
    /// Ports as written, sorted like BuildKit sorts them.
    case expose([String])
    case volume([String])
    case stopSignal(String)
    case healthcheck(Healthcheck)
    /// The trigger text stored in the image (`ONBUILD ` removed, heredoc bodies appended).
    case onbuild(expression: String, trigger: SyntaxNode)
    case maintainer(String)
}

/// An instruction with the syntax node it came from (for positions and lint).
public struct Instruction: Sendable {
    public var kind: InstructionKind
    public var node: SyntaxNode

    public var position: SourcePosition { node.position }
    public var name: String { node.command }
}

extension SyntaxNode: Equatable {
    public static func == (a: SyntaxNode, b: SyntaxNode) -> Bool { a === b }
}
