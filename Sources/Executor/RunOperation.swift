// RUN: the command in the sandbox (Sandbox) on the stage's root, as the step's user, in its
// working directory, with its mounts (RunMounts.swift) and heredoc scripts. Keyed on the
// expanded instruction, the build's default network and what its bind mounts read.
import BuildCache
import BuildPlan
import CSystem
import Sandbox
#if canImport(Glibc)
import Glibc
#endif

/// A RUN step.
struct RunOperation: StepOperation {
    let run: RunStep

    /// Secrets, SSH agents and cache mounts are not part of the key, as in BuildKit.
    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String? {
        var h = StepKeyHash(after: previous)
        h.add(run.keyMaterial)
        h.add(context.sandbox.defaultNetwork)
        for (index, m) in run.mounts.enumerated() where m.type == .bind {
            guard let identity = try context.sourceIdentity(run.mountSource(index), paths: [m.source ?? "/"], parents: false) else {
                return nil
            }
            h.add(identity)
        }
        return h.finalize()
    }

    func execute(in root: String, context: ExecutionContext) throws(ExecutorError) {
        let r = run
        do { try Sandbox.requirePrivileges() } catch { throw ExecutorError(error.message) }
        let users = try UserDatabase(rootfs: root)
        let ids = try users.resolve(r.user ?? "0:0")
        try makeDirectories(root, r.workingDirectory, owner: nil)
        var scripts: [String] = []
        var argv = r.argv
        for (path, content) in r.files.sorted(by: { $0.key < $1.key }) {
            // Heredoc scripts are put in the root for the step and removed after it.
            let inRoot = "/.gvmc-heredoc-\(getpid())-\(scripts.count)"
            // A new file: whatever the image has at that name (a FIFO, a hardlink) is replaced.
            TreeRemoval.remove(root + inRoot)
            let fd = open(root + inRoot, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o755)
            guard fd >= 0 else { throw .errno("create", inRoot) }
            let bytes = Array(content.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            fchmod(fd, 0o755)
            close(fd)
            scripts.append(root + inRoot)
            argv = argv.map { $0 == path ? inRoot : $0 }
        }
        defer { for s in scripts { unlink(s) } }
        var environment = r.environment
        let held = MountResources()
        defer { held.release() }
        let mounts = try sandboxMounts(environment: &environment, holding: held, context: context)
        var spec = SandboxSpec(rootfs: root, arguments: argv, environment: environment)
        spec.mounts = mounts
        spec.uid = ids.uid; spec.gid = ids.gid; spec.supplementaryGroups = ids.groups
        spec.workingDirectory = r.workingDirectory
        spec.isolateNetwork = r.network == "none" || (r.network != "host" && context.sandbox.defaultNetwork == "none")
        let status: Int32
        let sink: ((Int32, UnsafeRawBufferPointer) -> Void)? = context.events.map { e in
            { stream, bytes in e.stepOutput(bytes, stream: stream) }
        }
        do { status = try Sandbox.run(spec, output: sink) } catch {
            // A program for another architecture: the kernel says only "Exec format error" (or
            // "No such file" for a handler whose interpreter is not in the root).
            func arch(_ p: String) -> Substring { p.split(separator: "/").dropFirst().first ?? "" }
            let stagePlatform = context.stagePlatform
            let foreign =
                arch(stagePlatform) == arch(Sandbox.hostPlatform)
                ? ""
                : "\nnote: this stage is for \(stagePlatform) and this machine runs \(Sandbox.hostPlatform): running its programs needs a binfmt_misc handler for that architecture registered with the F flag (Debian: apt-get install qemu-user-static)"
            throw ExecutorError(error.message + foreign)
        }
        guard status == 0 else {
            // In an unprivileged build with only root mapped, chown and setuid to any other id
            // fail: say why, since the step's own message ("Invalid argument") does not.
            let hint = UserNamespace.current == .single ? "\nnote: " + UserNamespace.singleMappingHint : ""
            throw ExecutorError("RUN \(argv.last ?? "") did not complete successfully: exit code \(status)" + hint)
        }
    }
}
