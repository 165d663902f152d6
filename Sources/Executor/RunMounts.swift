// RUN --mount as BuildKit defines it: cache (persisted under the cache directory, keyed by id),
// tmpfs, bind (from the context, a stage or an image; read-only unless rw, whose writes are
// thrown away) and secret (a copy of the host file, read-only, mode 0400 by default, never in
// the image; `env=` puts the value in the environment instead) and ssh (a relayed agent socket).
import BuildCache
import BuildPlan
import CSystem
import DockerfileInstructions
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// What a RUN step's mounts hold while it runs: private copies of mount sources, cache-mount
/// locks (sharing=locked|private) and SSH agent relays, released after the step.
final class MountResources {
    var temporaries: [String] = []
    var locks: [Int32] = []
    var relays: [UnsafeMutableRawPointer] = []

    func release() {
        for relay in relays { gvmc_relay_stop(relay) }
        relays.removeAll()
        for fd in locks { close(fd) }
        locks.removeAll()
        for t in temporaries { TreeRemoval.remove(t) }
        temporaries.removeAll()
    }
}

extension RunOperation {
    /// The sandbox's mounts for the step's --mount options; secrets with env= go into `environment`.
    func sandboxMounts(
        environment: inout [String], holding held: MountResources, context: ExecutionContext
    ) throws(ExecutorError) -> [SandboxMount] {
        let r = run, settings = context.sandbox
        var out: [SandboxMount] = []
        var sshMounts = 0
        for (index, m) in r.mounts.enumerated() {
            let defaultTarget =
                m.type == .secret
                ? "/run/secrets/" + (m.id ?? "")
                : m.type == .ssh ? "/run/buildkit/ssh_agent.\(sshMounts)" : nil
            guard let rawTarget = m.target ?? defaultTarget, !rawTarget.isEmpty else {
                if m.type == .secret, let env = m.env, !env.isEmpty {
                    try secretEnvironment(m, env, &environment, secrets: settings.secrets); continue
                }
                throw ExecutorError("RUN --mount=type=\(m.type.rawValue): a target is required")
            }
            let target = resolvePath(rawTarget, against: r.workingDirectory)
            guard target != "/" else { throw ExecutorError("RUN --mount: cannot mount over /") }
            switch m.type {
            case .cache:
                var dir = try cacheDirectory(m, target: target, context: context)
                // sharing=locked: one step at a time uses the directory (other gvmc processes
                // wait); private: a step that finds it in use gets a fresh directory of its own,
                // thrown away afterwards; shared (default): no lock.
                if let sharing = m.sharing, sharing != .shared {
                    let fd = open(dir + ".lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
                    guard fd >= 0 else { throw .errno("open", dir + ".lock") }
                    held.locks.append(fd)
                    if sharing == .locked {
                        while flock(fd, LOCK_EX) != 0 {
                            guard errno == EINTR else { throw .errno("lock", dir) }
                        }
                    } else if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                        let scratch = try context.scratchDirectory("cache")
                        held.temporaries.append(scratch)
                        dir = scratch + "/c"
                        guard mkdir(dir, mode_t(m.mode ?? 0o755)) == 0 else { throw .errno("mkdir", dir) }
                        lchown(dir, m.uid ?? 0, m.gid ?? 0)
                    }
                }
                out.append(SandboxMount(.bind(source: dir), target: target, readOnly: m.readOnly))
            case .tmpfs:
                let size = m.sizeLimit.map { ",size=\($0)" } ?? ""
                out.append(SandboxMount(.tmpfs(options: "mode=1777" + size), target: target, readOnly: false))
            case .bind:
                let source = try bindSource(m, from: r.mountSource(index), context: context)
                if m.readOnly {
                    out.append(SandboxMount(.bind(source: source), target: target, readOnly: true, isFile: !isDirectory(source)))
                } else {
                    // rw: the step may write, but nothing reaches the context or the other stage.
                    let scratch = try context.scratchDirectory("bind")
                    held.temporaries.append(scratch)
                    try TreeCopy.copy(source, to: scratch + "/m")
                    out.append(SandboxMount(.bind(source: scratch + "/m"), target: target, readOnly: false, isFile: !isDirectory(source)))
                }
            case .secret:
                guard let file = try secretFile(m, secrets: settings.secrets) else { continue }
                let scratch = try context.scratchDirectory("secret")
                held.temporaries.append(scratch)
                let copy = scratch + "/s"
                try TreeCopy.copy(file, to: copy)
                chmod(copy, mode_t(m.mode ?? 0o400))
                lchown(copy, m.uid ?? 0, m.gid ?? 0)
                out.append(SandboxMount(.bind(source: copy), target: target, readOnly: true, isFile: true))
                if let env = m.env, !env.isEmpty { try secretEnvironment(m, env, &environment, secrets: settings.secrets) }
            case .ssh:
                // BuildKit's socket forwarding: a socket of our own (owner and mode as asked,
                // default root 0600) relayed to the agent given with `gvmc build --ssh`.
                sshMounts += 1
                let id = m.id ?? "default"
                guard let agent = settings.sshAgents[id] else {
                    if m.required { throw ExecutorError("ssh agent \(id) is required but was not given (gvmc build --ssh \(id)=SOCKET)") }
                    continue
                }
                let scratch = try context.scratchDirectory("ssh")
                held.temporaries.append(scratch)
                let socket = scratch + "/agent.sock"
                guard let relay = gvmc_relay_start(socket, agent) else { throw .errno("listen on", socket) }
                held.relays.append(relay)
                lchown(socket, m.uid ?? 0, m.gid ?? 0)
                chmod(socket, mode_t(m.mode ?? 0o600))
                out.append(SandboxMount(.bind(source: socket), target: target, readOnly: true, isFile: true))
                if sshMounts == 1 && !environment.contains(where: { $0.hasPrefix("SSH_AUTH_SOCK=") }) {
                    environment.append("SSH_AUTH_SOCK=" + target)
                }
            }
        }
        return out
    }

    /// The directory of a cache mount (by id, else target), made as the mount asks when new.
    func cacheDirectory(_ m: RunMount, target: String, context: ExecutionContext) throws(ExecutorError) -> String {
        guard let base = context.sandbox.runCacheDirectory else { throw ExecutorError("RUN --mount=type=cache needs a cache directory") }
        let id = m.id ?? target
        // A readable, collision-free directory name: the id's safe characters plus its FNV-1a hash.
        var hash: UInt64 = 0xcbf29ce484222325
        for b in id.utf8 { hash = (hash ^ UInt64(b)) &* 0x100000001b3 }
        let safe = String(id.map { $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) ? $0 : "_" }.prefix(64))
        let dir = base + "/" + safe + "-" + String(hash, radix: 16)
        if let notice = try PrivateDirectory.make(base) { context.warn(notice) }
        var st = stat()
        if stat(dir, &st) != 0 {
            guard mkdir(dir, mode_t(m.mode ?? 0o755)) == 0 || errno == EEXIST else { throw .errno("mkdir", dir) }
            chmod(dir, mode_t(m.mode ?? 0o755))
            lchown(dir, m.uid ?? 0, m.gid ?? 0)
        }
        CacheUse.touch(dir)
        return dir
    }

    /// The host directory a bind mount's source lies in: the context, a stage's root (built
    /// before this step, as the plan orders stages) or an image's tree.
    func bindSource(_ m: RunMount, from source: CopyStep.Source, context: ExecutionContext) throws(ExecutorError) -> String {
        let root: String
        switch source {
        case .context:
            root = context.buildContext.directory
        case .stage(let i):
            guard let r = context.stageRoots[i] else {
                throw ExecutorError("RUN --mount from=\(m.from ?? String(i)): stage \(i) has not been built")
            }
            root = r
        case .image(let ref):
            root = try context.imageRoot(ref)
        }
        // The source stays inside its root: symlinks are resolved and must not lead out of it.
        let relative = normalize("/" + (m.source ?? "/"))
        var resolved = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var resolvedRoot = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(root + relative, &resolved) != nil, realpath(root, &resolvedRoot) != nil else {
            throw ExecutorError(
                "RUN --mount=type=bind: source \(m.source ?? "/") does not exist\(m.from.map { " in \($0)" } ?? " in the build context")")
        }
        let path = String(decoding: resolved.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let top = String(decoding: resolvedRoot.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard path == top || path.hasPrefix(top + "/") else {
            throw ExecutorError("RUN --mount=type=bind: source \(m.source ?? "/") leads outside \(m.from ?? "the build context")")
        }
        return path
    }

    /// The host file of a secret; nil when it is optional and not given.
    func secretFile(_ m: RunMount, secrets: [String: String]) throws(ExecutorError) -> String? {
        let id = m.id ?? m.target.map { ($0 as String).split(separator: "/").last.map(String.init) ?? "" } ?? ""
        if let file = secrets[id] { return file }
        if m.required { throw ExecutorError("secret \(id) is required but was not given (--secret id=\(id),src=FILE)") }
        return nil
    }

    /// env=NAME: the secret's value in the step's environment.
    func secretEnvironment(_ m: RunMount, _ name: String, _ environment: inout [String], secrets: [String: String]) throws(ExecutorError) {
        guard let file = try secretFile(m, secrets: secrets) else { return }
        guard let text = readText(file) else { throw ExecutorError("secret \(m.id ?? name): cannot read \(file)") }
        environment.removeAll { $0.hasPrefix(name + "=") }
        environment.append(name + "=" + text)
    }
}
