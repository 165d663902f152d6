// A plan error made from another error keeps it: a RUN --mount value whose expansion fails is a
// Dockerfile error at the instruction, with the expansion error under the instruction error.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Testing

@Suite struct PlanErrorCauses {
    @Test func aMountExpansionErrorIsKeptUnderTheDockerfileError() {
        do {
            _ = try plan("FROM scratch\nRUN --mount=type=cache,target=${DIR:?is not set} true\n")
            Issue.record("an unset required variable was expanded")
        } catch let error as DockerfileError {
            #expect(error.location.file == "Dockerfile" && error.location.line == 2)
            let instruction = error.cause as? InstructionError
            #expect(instruction != nil)
            #expect(instruction?.cause is ExpansionError)
            #expect(error.message == "\(instruction?.cause.map { "\($0)" } ?? "")")
            #expect(error.description == "\(error.location): \(error.message)")
        } catch {
            Issue.record("unexpected error: \(error)")
        }
    }

    @Test func theCauseIsNotPartOfEquality() {
        let position = SourcePosition(line: 1, column: 1)
        let a = DockerfileError(file: "Dockerfile", position: position, message: "m")
        let b = DockerfileError(file: "Dockerfile", position: position, message: "m", cause: InstructionError("m"))
        #expect(a == b && a.hashValue == b.hashValue)
    }
}
