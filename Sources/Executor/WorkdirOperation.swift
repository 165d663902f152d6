// WORKDIR: the directory made (with its parents) in the stage, owned by the user in effect, as
// BuildKit's mkdir does. Keyed on the path and the user as written.
import BuildPlan

/// WORKDIR (BuildPlan's `makeDirectory` step).
struct WorkdirOperation: StepOperation {
    let path: String
    /// As written in USER; nil is root.
    let user: String?

    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String? {
        var h = StepKeyHash(after: previous)
        h.add("WORKDIR")
        h.add(path)
        h.add(user ?? "")
        return h.finalize()
    }

    func execute(in root: String, context: ExecutionContext) throws(ExecutorError) {
        let owner = try user.map { u throws(ExecutorError) in try UserDatabase(rootfs: root).resolve(u) }
        try makeDirectories(root, path, owner: owner.map { Ownership(uid: $0.uid, gid: $0.gid) })
    }
}
