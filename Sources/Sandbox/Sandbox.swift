// RUN steps: a command run with a stage's root filesystem as `/` (pivot_root), in new mount, PID,
// IPC and UTS namespaces (and an empty network namespace for `--network=none`), with a fresh /proc
// (kernel files masked or read-only as runc does), a minimal /dev, a read-only /sys and the host's
// resolv.conf and hosts for the step only, confined as Docker confines a container by default:
// its capability set, its seccomp profile, no device nodes usable outside /dev. The process side
// is in CSandbox (async-signal-safe code between clone and exec); this file prepares and cleans up.
import CSandbox
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What a sandboxed command runs with: root filesystem, arguments, environment, user, mounts.
public struct SandboxSpec: Sendable {
    public var rootfs: String
    public var arguments: [String]
    /// The file exec'd exactly as given, with no PATH search (Golem's runtime); nil: argv[0],
    /// looked up in the environment's PATH as a shell does.
    public var executable: String?
    public var environment: [String]
    public var workingDirectory: String = "/"
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var supplementaryGroups: [UInt32] = []
    /// `--network=none`: a new, empty network namespace (only a down loopback).
    public var isolateNetwork = false
    /// With `isolateNetwork`: the loopback interface up, as in a Golem VM.
    public var loopbackUp = false
    public var hostname = "buildkitsandbox"
    /// Host files bind-mounted read-only for the step; nil leaves the image's own.
    public var resolvConf: String? = "/etc/resolv.conf"
    public var hosts: String? = "/etc/hosts"
    /// RUN --mount: applied in order after the standard mounts.
    public var mounts: [SandboxMount] = []

    public init(rootfs: String, arguments: [String], environment: [String]) {
        self.rootfs = rootfs; self.arguments = arguments; self.environment = environment
    }
}

/// One mount for the step. Missing mount points are created in the rootfs for the step and
/// removed afterwards (directories, or an empty file when `isFile`), as BuildKit does.
public struct SandboxMount: Sendable, Equatable {
    /// What is mounted: a host path (bind) or a tmpfs with its options.
    public enum Kind: Sendable, Equatable { case bind(source: String), tmpfs(options: String) }
    public var kind: Kind
    /// Absolute, normalised path inside the rootfs.
    public var target: String
    public var readOnly: Bool
    public var isFile: Bool
    public init(_ kind: Kind, target: String, readOnly: Bool, isFile: Bool = false) {
        self.kind = kind; self.target = target; self.readOnly = readOnly; self.isFile = isFile
    }
}

/// Runs a command (a RUN step, a `gvmc run` command) confined in new namespaces, with a root
/// filesystem as `/`.
public enum Sandbox {
    /// This machine's platform as an OCI `os/arch[/variant]` (BUILDPLATFORM; what RUN executes).
    public static let hostPlatform: String = {
        var u = utsname()
        uname(&u)
        let machine = withUnsafeBytes(of: &u.machine) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let oci: [String: String] = [
            "x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm/v7", "armv6l": "arm/v6",
            "i686": "386", "i386": "386", "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"
        ]
        return "linux/" + (oci[machine] ?? machine)
    }()

    /// The kernel's Landlock ABI (0: none); from 6 on (Linux 6.12), RUN steps cannot connect to
    /// abstract Unix sockets made outside them, such as the host's.
    public static var landlockABI: Int { Int(gvmc_landlock_abi()) }

    /// Runs the command and returns its exit status (128+signal when killed). Its standard input
    /// is /dev/null (as in BuildKit); its output goes to `stdout`/`stderr` when given, else
    /// through pipes that gvmc copies to its own: a step never holds gvmc's terminal, so it can
    /// neither push keystrokes into the user's shell (TIOCSTI) nor change the terminal's settings.
    /// With `output`, what the step writes through those pipes goes to it instead (stream 1 or 2).
    public static func run(
        _ spec: SandboxSpec, stdout: Int32 = -1, stderr: Int32 = -1,
        output: ((Int32, UnsafeRawBufferPointer) -> Void)? = nil
    ) throws(SandboxError) -> Int32 {
        guard spec.rootfs.hasPrefix("/") else { throw SandboxError(message: "rootfs \(spec.rootfs) must be an absolute path") }
        guard !spec.arguments.isEmpty else { throw SandboxError(message: "empty command") }
        try requirePrivileges()
        if UserNamespace.current == .single && (spec.uid != 0 || spec.gid != 0) {
            throw SandboxError(message: "uid \(spec.uid), gid \(spec.gid): " + UserNamespace.singleMappingHint)
        }
        var st = stat()
        guard stat(spec.rootfs, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw SandboxError(message: "rootfs \(spec.rootfs) is not a directory")
        }

        // resolv.conf and hosts are mount points for the step only: create what is missing and
        // take it away afterwards, so nothing leaks into the image.
        var created: [String] = []
        defer { for path in created.reversed() { unlink(path); rmdir(path) } }
        // Only through real directories: an image whose /etc (or resolv.conf) is a symlink gets no
        // mount point made, since a symlink could lead the parent, which runs on the host, to a
        // host directory. The step then resolves the files inside its root.
        for (file, source) in [("resolv.conf", spec.resolvConf), ("hosts", spec.hosts)] where source != nil {
            try? prepareMountPoint(
                spec.rootfs, SandboxMount(.tmpfs(options: ""), target: "/etc/" + file, readOnly: true, isFile: true),
                created: &created)
        }
        for m in spec.mounts { try prepareMountPoint(spec.rootfs, m, created: &created) }

        let path =
            spec.environment.last { $0.hasPrefix("PATH=") }.map { String($0.dropFirst(5)) }
            ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        let cArgs = spec.arguments.map { strdup($0) } + [nil]
        let cEnv = spec.environment.map { strdup($0) } + [nil]
        let cStrings = [
            strdup(spec.rootfs), strdup(path), strdup(spec.workingDirectory), strdup(spec.hostname),
            spec.resolvConf.map { strdup($0) } ?? nil, spec.hosts.map { strdup($0) } ?? nil,
            spec.executable.map { strdup($0) } ?? nil
        ]
        defer {
            for p in cArgs { free(p) }
            for p in cEnv { free(p) }
            for p in cStrings { free(p) }
        }
        let groups = spec.supplementaryGroups.map { gid_t($0) }
        let mountStrings: [[UnsafeMutablePointer<CChar>?]] = spec.mounts.map { m in
            switch m.kind {
            case .bind(let source): return [strdup(source), strdup(m.target), nil, nil]
            case .tmpfs(let options): return [nil, strdup(m.target), strdup("tmpfs"), strdup(options)]
            }
        }
        defer { for row in mountStrings { for p in row { free(p) } } }
        let cMounts = zip(spec.mounts, mountStrings).map { m, c in
            gvmc_mount(
                source: UnsafePointer(c[0]), target: UnsafePointer(c[1]), fstype: UnsafePointer(c[2]),
                data: UnsafePointer(c[3]), readonly: m.readOnly ? 1 : 0)
        }
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        guard devNull >= 0 else { throw SandboxError(.system(operation: "cannot open /dev/null", errno: errno)) }
        defer { close(devNull) }
        var relay = OutputRelay()
        relay.sink = output
        defer { relay.closeAll() }
        let childOut = stdout >= 0 ? stdout : try relay.pipe(to: 1)
        let childErr = stderr >= 0 ? stderr : try relay.pipe(to: 2)
        var error = [CChar](repeating: 0, count: 1024)
        let pid: pid_t = cArgs.withUnsafeBufferPointer { argv in
            cEnv.withUnsafeBufferPointer { envp in
                groups.withUnsafeBufferPointer { g in
                    cMounts.withUnsafeBufferPointer { mounts in
                        var c = gvmc_sandbox_spec()
                        c.rootfs = UnsafePointer(cStrings[0])
                        c.argv = UnsafeRawPointer(argv.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
                        c.envp = UnsafeRawPointer(envp.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self)
                        c.path_env = UnsafePointer(cStrings[1])
                        c.exec_path = UnsafePointer(cStrings[6])
                        c.cwd = UnsafePointer(cStrings[2])
                        c.uid = uid_t(spec.uid)
                        c.gid = gid_t(spec.gid)
                        c.groups = g.baseAddress
                        c.ngroups = Int32(g.count)
                        c.new_network = spec.isolateNetwork ? 1 : 0
                        c.loopback_up = spec.loopbackUp ? 1 : 0
                        c.hostname = UnsafePointer(cStrings[3])
                        c.host_resolv_conf = UnsafePointer(cStrings[4])
                        c.host_hosts = UnsafePointer(cStrings[5])
                        c.stdin_fd = devNull
                        c.stdout_fd = childOut
                        c.stderr_fd = childErr
                        c.mounts = mounts.baseAddress
                        c.nmounts = Int32(mounts.count)
                        c.setgroups_denied = UserNamespace.current == .single ? 1 : 0
                        return gvmc_sandbox_spawn(&c, &error, error.count)
                    }
                }
            }
        }
        relay.closeWriteEnds()
        guard pid > 0 else {
            throw SandboxError(
                .startFailed(
                    command: spec.arguments[0], rootfs: spec.rootfs,
                    reason: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)))
        }
        RunningSandboxes.shared.add(pid)
        defer { RunningSandboxes.shared.remove(pid) }
        // Every writer is in the step's PID namespace, which dies with its first process: the
        // pipes reach end of file once the step is over.
        relay.copyUntilEnd()
        return gvmc_sandbox_wait(pid)
    }
}

/// The step's output pipes, copied to gvmc's own descriptors.
struct OutputRelay {
    private var pipes: [(read: Int32, write: Int32, target: Int32)] = []
    /// Receives the output instead of the target descriptors, when set.
    var sink: ((Int32, UnsafeRawBufferPointer) -> Void)?

    /// A pipe whose read end is copied to `target`; returns the write end for the step.
    mutating func pipe(to target: Int32) throws(SandboxError) -> Int32 {
        var fds: [Int32] = [0, 0]
        guard Glibc.pipe(&fds) == 0 else { throw SandboxError(.system(operation: "pipe", errno: errno)) }
        // Not inherited by other processes gvmc starts meanwhile (the step gets them by dup2).
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        pipes.append((fds[0], fds[1], target))
        return fds[1]
    }

    mutating func closeWriteEnds() {
        for i in pipes.indices where pipes[i].write >= 0 { close(pipes[i].write); pipes[i].write = -1 }
    }

    mutating func closeAll() {
        closeWriteEnds()
        for i in pipes.indices where pipes[i].read >= 0 { close(pipes[i].read); pipes[i].read = -1 }
    }

    mutating func copyUntilEnd() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            var polled = pipes.filter { $0.read >= 0 }.map { pollfd(fd: $0.read, events: Int16(POLLIN), revents: 0) }
            if polled.isEmpty { return }
            if poll(&polled, nfds_t(polled.count), -1) < 0 {
                if errno == EINTR { continue }
                return
            }
            for p in polled where p.revents != 0 {
                guard let i = pipes.firstIndex(where: { $0.read == p.fd }) else { continue }
                let n = read(p.fd, &buffer, buffer.count)
                if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
                if n <= 0 { close(p.fd); pipes[i].read = -1; continue }
                if let sink {
                    buffer.withUnsafeBytes { sink(pipes[i].target, UnsafeRawBufferPointer(rebasing: $0[..<n])) }
                    continue
                }
                var offset = 0
                while offset < n {
                    let w = buffer[offset..<n].withUnsafeBytes { Glibc.write(pipes[i].target, $0.baseAddress, $0.count) }
                    if w < 0 { if errno == EINTR { continue }; break }
                    offset += w
                }
            }
        }
    }
}

extension Sandbox {
    /// Root, or root of our user namespace (UserNamespace): what new namespaces need.
    public static func requirePrivileges() throws(SandboxError) {
        guard geteuid() == 0 else {
            throw SandboxError(.unprivileged(reason: UserNamespace.unavailableReason ?? "run gvmc as root"))
        }
    }

    /// Creates what is missing of a mount target inside the rootfs (recorded in `created`, removed
    /// after the step). A symlink on the way is refused: it could point anywhere on the host
    /// while the mounts are made, before the chroot.
    static func prepareMountPoint(_ root: String, _ m: SandboxMount, created: inout [String]) throws(SandboxError) {
        let parts = m.target.split(separator: "/").map(String.init)
        guard !parts.isEmpty, !parts.contains(".."), !parts.contains(".") else {
            throw SandboxError(.mountTarget(target: m.target, reason: "not a usable path", errno: nil))
        }
        var path = root
        var st = stat()
        for (i, part) in parts.enumerated() {
            path += "/" + part
            let last = i == parts.count - 1
            if lstat(path, &st) == 0 {
                guard st.st_mode & S_IFMT != S_IFLNK else {
                    throw SandboxError(
                        .mountTarget(
                            target: m.target, reason: "/\(parts[...i].joined(separator: "/")) is a symlink in the image", errno: nil))
                }
                if !last && st.st_mode & S_IFMT != S_IFDIR {
                    throw SandboxError(
                        .mountTarget(target: m.target, reason: "/\(parts[...i].joined(separator: "/")) is not a directory", errno: nil))
                }
                continue
            }
            if last && m.isFile {
                let fd = open(path, O_CREAT | O_WRONLY | O_EXCL | O_NOFOLLOW, 0o600)
                guard fd >= 0 else { throw SandboxError(.mountTarget(target: m.target, reason: "cannot create it", errno: errno)) }
                close(fd)
            } else {
                guard mkdir(path, 0o755) == 0 else {
                    throw SandboxError(.mountTarget(target: m.target, reason: "cannot create it", errno: errno))
                }
            }
            created.append(path)
        }
    }
}

/// Sandboxed processes still running, so an interrupt can kill them (killing the namespace's
/// PID 1 kills every process in it; its mounts go with the namespace).
public final class RunningSandboxes: Sendable {
    public static let shared = RunningSandboxes()
    private struct State {
        var pids = Set<pid_t>()
        /// The re-executed build, 0 when there is none.
        var forwardTarget: pid_t = 0
        var interrupted = false
    }
    private let state = Mutex(State())
    private init() {}

    /// The re-executed build (`UserNamespace.reexec`): signals go to it, and it cleans up.
    func forward(to pid: pid_t?) { state.withLock { $0.forwardTarget = pid ?? 0 } }

    /// Passes `signal` on to the re-executed build, if there is one.
    public func forwardSignal(_ signal: Int32) -> Bool {
        let target = state.withLock { $0.forwardTarget }
        guard target > 0 else { return false }
        kill(target, signal)
        return true
    }

    /// A sandbox started while `killAll` ran (Ctrl-C at that moment) is killed at once.
    func add(_ pid: pid_t) {
        let interrupted = state.withLock { s in
            s.pids.insert(pid)
            return s.interrupted
        }
        if interrupted { kill(pid, SIGKILL) }
    }
    func remove(_ pid: pid_t) { state.withLock { _ = $0.pids.remove(pid) } }

    /// Whether `killAll` has run: gvmc is being interrupted, and the thread that interrupts it
    /// is cleaning up and will end the process.
    public var isInterrupted: Bool { state.withLock { $0.interrupted } }

    /// Kills every sandboxed process (the threads running them reap them).
    public func killAll() {
        let all = state.withLock { s in
            s.interrupted = true
            return s.pids
        }
        for pid in all { kill(pid, SIGKILL) }
    }
}
