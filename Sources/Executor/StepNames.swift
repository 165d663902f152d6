// BuildKit's names for the steps of a build, as the progress display shows them.
import BuildPlan

extension BuildExecutor {
    /// BuildKit's step name: `[STAGE i/N] INSTRUCTION args` where N counts FROM (of an image),
    /// RUN, COPY, ADD and WORKDIR; no stage in a single-stage build of an unnamed stage,
    /// `stage-K` for unnamed stages of a multi-stage build; i right-aligned to N's width.
    func stepName(_ stage: PlannedStage, _ n: Int) -> String {
        let fromImage: Bool
        if case .image = stage.base { fromImage = true } else { fromImage = false }
        let total = stage.steps.count + (fromImage ? 1 : 0)
        let index = n + 1 + (fromImage ? 1 : 0)
        let text = stage.steps[n].node.original.split(separator: "\n").first.map(String.init) ?? ""
        return Self.prefix(stage, multiStage: plan.stages.count > 1 || stage.index > 0, index: index, total: total) + text
    }

    static func prefix(_ stage: PlannedStage, multiStage: Bool, index: Int, total: Int) -> String {
        let name = stage.name ?? (multiStage ? "stage-\(stage.index)" : nil)
        let width = String(total).count
        let number = String(repeating: " ", count: max(0, width - String(index).count)) + String(index)
        return "[" + (name.map { $0 + " " } ?? "") + "\(number)/\(total)] "
    }

    /// The FROM step of a stage built on an image (`[1/3] FROM debian:12`); nil for scratch and stages.
    public func fromStepName(_ stage: PlannedStage) -> String? {
        guard case .image(let ref) = stage.base else { return nil }
        return Self.prefix(stage, multiStage: plan.stages.count > 1 || stage.index > 0, index: 1, total: stage.steps.count + 1) + "FROM "
            + ref
    }
}
