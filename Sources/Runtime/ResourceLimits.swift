// --memory and --cpus in sandbox mode: this process moves into a cgroup of its own with those
// limits, and every process it starts inherits it. cgroup v2 where the host has it, else the v1
// memory and cpu hierarchies; where the host allows neither, the run goes on without limits and
// says so.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The cgroups a run made for `--memory` and `--cpus`; `groups` is in a Mutex since the run's end
/// and the signal thread may both remove them.
public final class ResourceLimits: Sendable {
    /// The cgroup directories made (one for v2; memory and cpu for v1), each with the parent
    /// this process came from.
    private let groups = Mutex<[(path: String, parent: String)]>([])

    /// Limits this process to `memoryBytes` and `cpus`; `note` says what could not be applied.
    public static func apply(memoryBytes: UInt64, cpus: Double) -> (limits: ResourceLimits, note: String?) {
        let limits = ResourceLimits()
        let name = "gvmc-run-\(getpid())"
        let own = ownCgroups()
        let quota = Int((cpus * 100_000).rounded())
        if let v2 = own[""], fileExists("/sys/fs/cgroup/cgroup.controllers") {
            let parent = "/sys/fs/cgroup" + v2
            let controllers = read(parent + "/cgroup.subtree_control") ?? ""
            if controllers.contains("memory") && controllers.contains("cpu") {
                let dir = parent + "/" + name
                if mkdir(dir, 0o755) == 0 {
                    limits.groups.withLock { $0.append((dir, parent)) }
                    _ = write(dir + "/memory.swap.max", "0")  // a VM has no swap; absent without swap accounting
                    let ok =
                        write(dir + "/memory.max", "\(memoryBytes)") && write(dir + "/cpu.max", "\(quota) 100000")
                        && write(dir + "/cgroup.procs", "\(getpid())")
                    if ok { return (limits, nil) }
                }
            }
            limits.remove()
            return (
                limits,
                "--memory and --cpus are not enforced: this host's cgroup v2 (\(parent)) does not let gvmc make a child group with the memory and cpu controllers (run as root on a host that delegates them)"
            )
        }
        // cgroup v1: the memory and cpu hierarchies.
        var missing: [String] = []
        for (controller, files) in [
            ("memory", [("memory.limit_in_bytes", "\(memoryBytes)")]),
            ("cpu", [("cpu.cfs_period_us", "100000"), ("cpu.cfs_quota_us", "\(quota)")])
        ] {
            guard let path = own[controller] ?? own.first(where: { $0.key.split(separator: ",").contains(Substring(controller)) })?.value
            else {
                missing.append(controller); continue
            }
            let mount = ["/sys/fs/cgroup/" + controller, "/sys/fs/cgroup/cpu,cpuacct"].first {
                isDirectory($0 + "/") && fileExists($0 + "/tasks")
            }
            guard let mount else { missing.append(controller); continue }
            let parent = mount + (path == "/" ? "" : path)
            let dir = parent + "/" + name
            guard mkdir(dir, 0o755) == 0 else { missing.append(controller); continue }
            limits.groups.withLock { $0.append((dir, parent)) }
            guard files.allSatisfy({ write(dir + "/" + $0.0, $0.1) }), write(dir + "/cgroup.procs", "\(getpid())") else {
                missing.append(controller); continue
            }
        }
        if missing.isEmpty { return (limits, nil) }
        return (
            limits,
            "not enforced on this host (cgroup v1 \(missing.joined(separator: " and ")) controller not writable): "
                + missing.map { $0 == "memory" ? "--memory" : "--cpus" }.joined(separator: ", ")
        )
    }

    /// Moves this process back to where it was and removes the groups (they must be empty of
    /// other processes: call after the sandboxed ones are gone; retried for a second while the
    /// killed ones exit).
    public func remove() {
        // The run's end and the signal thread may both call this: the first takes the groups.
        let taken = groups.withLock { g in
            defer { g = [] }
            return g
        }
        for (path, parent) in taken.reversed() {
            _ = Self.write(parent + "/cgroup.procs", "\(getpid())")
            for _ in 0..<100 {
                if rmdir(path) == 0 || errno == ENOENT { break }
                usleep(10_000)
            }
        }
    }

    /// This process's cgroups from /proc/self/cgroup: controller list ("" for v2) → path.
    static func ownCgroups() -> [String: String] {
        var out: [String: String] = [:]
        for line in (read("/proc/self/cgroup") ?? "").split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            out[String(f[1])] = String(f[2])
        }
        return out
    }

    static func fileExists(_ path: String) -> Bool { access(path, F_OK) == 0 }
    static func isDirectory(_ path: String) -> Bool { var st = stat(); return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFDIR }

    static func read(_ path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = Glibc.read(fd, &buffer, buffer.count)
        return n >= 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : nil
    }

    static func write(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } == text.utf8.count
    }
}
