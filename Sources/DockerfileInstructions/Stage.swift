// A whole Dockerfile as stages: global (meta) ARGs before the first FROM, then one Stage per FROM
// with its instructions (BuildKit's instructions.Parse).
import DockerfileSyntax

/// A build stage: its FROM and the instructions up to the next FROM.
public struct Stage: Sendable {
    public var from: FromInstruction
    public var fromNode: SyntaxNode
    public var instructions: [Instruction]
    /// 0-based position among the stages (for `--from=0`).
    public var index: Int
    /// The `# name description` comment above the FROM.
    public var documentation: String?

    public var name: String? { from.stageName }
}

/// A Dockerfile with its instructions validated and grouped into stages.
public struct StagedDockerfile: Sendable {
    public var file: Dockerfile
    /// ARG instructions before the first FROM.
    public var metaArgs: [Instruction]
    public var stages: [Stage]

    /// Validates every instruction and groups them into stages.
    public static func parse(_ file: Dockerfile) throws(DockerfileError) -> StagedDockerfile {
        let labs = file.directives.contains { $0.name == "syntax" && $0.value.contains("labs") }
        var metaArgs: [Instruction] = []
        var stages: [Stage] = []
        for node in file.nodes {
            let instruction = try InstructionParser.parse(node, file: file.path, labs: labs)
            switch instruction.kind {
            case .from(let from):
                stages.append(
                    Stage(
                        from: from, fromNode: node, instructions: [], index: stages.count,
                        documentation: from.stageName.flatMap { InstructionParser.docComment(node.comments, $0) }))
            case .arg where stages.isEmpty:
                metaArgs.append(instruction)
            default:
                guard !stages.isEmpty else {
                    throw DockerfileError(
                        file: file.path, position: node.position, endLine: node.endLine,
                        message: "no build stage in current context")
                }
                stages[stages.count - 1].instructions.append(instruction)
            }
        }
        return StagedDockerfile(file: file, metaArgs: metaArgs, stages: stages)
    }

    /// Finds a stage by name (case-insensitive) or by index; nil means the name refers to an image.
    public func stage(named reference: String, before limit: Int? = nil) -> Stage? {
        let candidates = limit.map { Array(stages.prefix($0)) } ?? stages
        let lowered = reference.lowercased()
        if let s = candidates.last(where: { $0.name == lowered }) { return s }
        if let i = Int(reference), i >= 0, i < candidates.count, String(i) == reference { return candidates[i] }
        return nil
    }
}
