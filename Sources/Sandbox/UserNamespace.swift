// Unprivileged builds: gvmc re-executes itself in new user and mount namespaces, as root inside
// mapped to the invoking user outside (the way rootless podman and buildah work). With a range
// of subordinate ids in /etc/subuid and /etc/subgid (and newuidmap/newgidmap installed), ids
// 1..N inside map to that range, so images keep every owner and RUN steps may use any user.
// Without one, only root inside is mapped: owners that cannot be set are recorded in an xattr
// for the image writer, and RUN steps can only run as root.
import Synchronization
import CSandbox
#if canImport(Glibc)
import Glibc
#endif

/// Re-executes an unprivileged build in new user and mount namespaces.
public enum UserNamespace {
    /// How ids are mapped into the namespace: subordinate ranges, or root only.
    public enum Mode: String, Sendable {
        /// Root and 1..N mapped (newuidmap/newgidmap with /etc/subuid and /etc/subgid ranges).
        case subordinateIDs = "subids"
        /// Only root inside is mapped (to the invoking user).
        case single
    }

    static let environmentKey = "GVMC_USERNS"

    /// The namespace this process was re-executed in, if any.
    public static let current: Mode? = getenv(environmentKey).flatMap { Mode(rawValue: String(cString: $0)) }

    /// Why a user namespace could not be entered (set by `reexec` when it falls through), for
    /// the errors of steps that need one.
    public static var unavailableReason: String? {
        get { unavailable.withLock { $0 } }
        set { unavailable.withLock { $0 = newValue } }
    }
    private static let unavailable = Mutex<String?>(nil)

    /// How the re-executed build ended, or why no namespace could be made.
    public enum Outcome: Sendable {
        /// The build ran in the namespace and ended with this status.
        case exited(Int32)
        /// No namespace could be made; the caller carries on unprivileged.
        case unavailable(String)
    }

    /// Runs this very command again in a user namespace and waits for it. Signals sent to this
    /// process are passed on (`RunningSandboxes.forward`).
    public static func reexec(arguments: [String], log: (String) -> Void) -> Outcome {
        let uid = getuid(), gid = getgid()
        let name = getpwuid(uid).map { String(cString: $0.pointee.pw_name) }
        let ranges = (subordinate("/etc/subuid", name: name, id: uid), subordinate("/etc/subgid", name: name, id: gid))
        let helpers = (findExecutable("newuidmap"), findExecutable("newgidmap"))
        var mode: Mode = .single
        if ranges.0 != nil, ranges.1 != nil, helpers.0 != nil, helpers.1 != nil { mode = .subordinateIDs }
        while true {
            let environment = environ(adding: ["\(environmentKey)=\(mode.rawValue)", "\(environmentKey)_USER=\(name ?? String(uid))"])
            guard var child = spawnSelf(arguments: arguments, environment: environment, newUser: true) else {
                return .unavailable(refusal(errno))
            }
            let mapped: String?
            if mode == .subordinateIDs, let r = ranges.0, let g = ranges.1, let newuidmap = helpers.0, let newgidmap = helpers.1 {
                mapped =
                    run(newuidmap, ["\(child.pid)", "0", "\(uid)", "1", "1", "\(r.start)", "\(r.count)"])
                    ?? run(newgidmap, ["\(child.pid)", "0", "\(gid)", "1", "1", "\(g.start)", "\(g.count)"])
            } else {
                mapped =
                    writeFile("/proc/\(child.pid)/uid_map", "0 \(uid) 1\n")
                    ?? writeFile("/proc/\(child.pid)/setgroups", "deny\n")
                    ?? writeFile("/proc/\(child.pid)/gid_map", "0 \(gid) 1\n")
            }
            if let failure = mapped {
                _ = gvmc_userns_start(&child, 0)
                if mode == .subordinateIDs {
                    log(
                        "warning: cannot map the subordinate ids of \(name ?? "uid \(uid)") (\(failure)); only root is mapped in the build's user namespace"
                    )
                    mode = .single
                    continue
                }
                return .unavailable("cannot write the user namespace's id map: \(failure)")
            }
            let e = gvmc_userns_start(&child, 1)
            guard e == 0 else { return .unavailable("cannot re-execute gvmc in a user namespace: \(String(cString: strerror(e)))") }
            return .exited(waitForwardingSignals(child.pid))
        }
    }

    /// Starts `/proc/self/exe` with `arguments` in a new mount (and user) namespace, waiting to be
    /// released by `gvmc_userns_start`; nil with errno when the kernel refuses.
    static func spawnSelf(arguments: [String], environment: [String], newUser: Bool) -> gvmc_userns? {
        var child = gvmc_userns()
        let cArgs = arguments.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) }; for p in cEnv { free(p) } }
        let rc = cArgs.withUnsafeBufferPointer { argv in
            cEnv.withUnsafeBufferPointer { envp in
                gvmc_userns_spawn(
                    "/proc/self/exe",
                    UnsafeRawPointer(argv.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    UnsafeRawPointer(envp.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    newUser ? 1 : 0, &child)
            }
        }
        return rc == 0 ? child : nil
    }

    /// Waits for the re-executed build, passing it the signals this process gets.
    static func waitForwardingSignals(_ pid: pid_t) -> Int32 {
        RunningSandboxes.shared.forward(to: pid)
        defer { RunningSandboxes.shared.forward(to: nil) }
        return gvmc_sandbox_wait(pid)
    }

    /// Names the id mapping files are unpacked under: nil as root of the initial namespace,
    /// else a digest of this namespace's uid and gid maps (trees unpacked under one mapping
    /// have the wrong owners under another), or "unprivileged" outside any.
    public static var idMappingKey: String? {
        guard geteuid() == 0 else { return "unprivileged" }
        let fields = ["uid_map", "gid_map"].map { (readText("/proc/self/" + $0) ?? "").split(whereSeparator: { $0 == " " || $0 == "\n" }) }
        if fields.allSatisfy({ $0 == ["0", "0", "4294967295"] }) { return nil }
        var hash: UInt64 = 0xcbf29ce484222325
        for byte in fields.map { $0.joined(separator: " ") }.joined(separator: "|").utf8 { hash = (hash ^ UInt64(byte)) &* 0x100000001b3 }
        return "userns-" + String(hash, radix: 16)
    }

    /// Why only root works with a single mapping, and how to get subordinate ids.
    public static var singleMappingHint: String {
        let name = getenv(environmentKey + "_USER").map { String(cString: $0) } ?? "$USER"
        return
            "only root is mapped in this unprivileged build's user namespace (no range for \(name) in /etc/subuid and /etc/subgid, or no newuidmap/newgidmap); add one (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 \(name)) or build as root"
    }

    /// What a refused clone(CLONE_NEWUSER) means, and what to change.
    static func refusal(_ e: Int32) -> String {
        switch e {
        case EPERM:
            return
                "the kernel refuses user namespaces to unprivileged users (sysctl kernel.unprivileged_userns_clone=0, AppArmor's kernel.apparmor_restrict_unprivileged_userns=1, a container's seccomp profile, or this process's uid or gid having no mapping in its own namespace); run gvmc as root, or allow them"
        case ENOSPC:
            return
                "no user namespace can be created (sysctl user.max_user_namespaces is 0 or its limit is reached); run gvmc as root, or raise it"
        case EINVAL:
            return "this kernel has no user namespaces (CONFIG_USER_NS); run gvmc as root"
        default:
            return "cannot create a user namespace: \(String(cString: strerror(e))); run gvmc as root"
        }
    }

    /// The first `name:start:count` (or `uid:start:count`) line of /etc/subuid or /etc/subgid.
    static func subordinate(_ file: String, name: String?, id: UInt32) -> (start: UInt32, count: UInt32)? {
        guard let text = readText(file) else { return nil }
        for line in text.split(separator: "\n") {
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count == 3, f[0] == name.map({ Substring($0) }) ?? "" || f[0] == Substring(String(id)),
                let start = UInt32(f[1]), let count = UInt32(f[2]), count > 0
            else { continue }
            return (start, count)
        }
        return nil
    }

    static func readText(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func writeFile(_ path: String, _ text: String) -> String? {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return "\(path): \(String(cString: strerror(errno)))" }
        defer { close(fd) }
        let n = text.withCString { write(fd, $0, strlen($0)) }
        return n == text.utf8.count ? nil : "\(path): \(String(cString: strerror(errno)))"
    }

    /// The first executable `name` in $PATH (then /usr/bin, /usr/sbin, /bin, /sbin).
    public static func findExecutable(_ name: String) -> String? {
        let path = getenv("PATH").map { String(cString: $0) } ?? ""
        for dir in (path + ":/usr/bin:/usr/sbin:/bin:/sbin").split(separator: ":") where dir.hasPrefix("/") {
            let candidate = "\(dir)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }

    /// Runs a helper (newuidmap, newgidmap) to completion; nil when it succeeded.
    static func run(_ executable: String, _ arguments: [String]) -> String? {
        let cArgs = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for p in cArgs { free(p) } }
        var pid = pid_t()
        let rc = posix_spawn(&pid, executable, nil, nil, cArgs, Glibc.environ)
        guard rc == 0 else { return "\(executable): \(String(cString: strerror(rc)))" }
        let status = gvmc_sandbox_wait(pid)
        return status == 0 ? nil : "\(executable) \(arguments.joined(separator: " ")) exited with status \(status)"
    }

    static func environ(adding entries: [String]) -> [String] {
        var out: [String] = []
        var p = Glibc.environ
        while let s = p.pointee {
            let e = String(cString: s)
            if !e.hasPrefix(environmentKey) && !e.hasPrefix(MountNamespace.environmentKey) { out.append(e) }
            p += 1
        }
        return out + entries
    }
}
