// Sandbox mode: the image set up as Golem's guest init sets it up, in this process's own mount
// namespace (gvmc re-executes itself in one: MountNamespace as root, UserNamespace otherwise),
// so every mount vanishes with it however it ends. The squashfs (kernel, loop device; or
// unpacked when unprivileged) is the read-only lower layer of an overlay whose upper layer is a
// tmpfs of the runtime version's size; each VOLUME is a host directory mounted over its path,
// /tmp a fresh tmpfs, /etc/hosts and /etc/resolv.conf rewritten. Each command then runs in
// Sandbox (fresh /proc, /sys, /dev; hostname; network namespace), exec'd as a provider does.
import CSystem
import Foundation
import GVMI
import Executor
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// `gvmc run` in sandbox mode: the image mounted as Golem's guest init mounts it, commands run
/// in Sandbox.
public final class SandboxRun {
    public private(set) var volumes: [PlannedVolume] = []
    /// Where fresh volume directories are; removed at the end unless `--workdir` named it.
    public private(set) var workdir = ""
    /// Things the user should know (limits not enforced, how the image was read).
    public private(set) var notes: [String] = []
    public let configuration: RunConfiguration
    let scratch: String
    var rootfs: String { scratch + "/root" }
    private var mounted: [String] = []
    private var limits: ResourceLimits?
    private var cleanupID = 0

    /// Sets the image up; `close()` takes it all down again.
    public init(configuration: RunConfiguration, metadata: GVMIMetadata) throws(RunError) {
        self.configuration = configuration
        scratch = try makeTemporaryDirectory(prefix: "gvmc-run")
        do { try setUp(metadata) } catch { close(); throw error }
    }

    private func setUp(_ metadata: GVMIMetadata) throws(RunError) {
        let c = configuration
        if let dir = c.workdir {
            try makeDirectories(dir)
            workdir = dir
        } else {
            workdir = scratch + "/work"
            try makeDirectories(workdir)
        }
        volumes = try VolumePlan.plan(declared: metadata.config.volumes ?? [], bindings: c.bindings, workdir: workdir)
        for v in volumes where !v.bound { try makeDirectories(v.hostDirectory) }
        for dir in ["image", "rw", "root"] where mkdir(scratch + "/" + dir, 0o755) != 0 {
            throw .system("cannot create \(scratch)/\(dir)", errno: errno)
        }
        let image = scratch + "/image"
        if geteuid() == 0 && UserNamespace.current == nil {
            try mountSquashFS(metadata, at: image)
        } else {
            try unpack(metadata, to: image)
        }
        // The RAM layer: what the guest writes goes there, as much as the runtime version allows.
        let size = c.version.overlayBytes(memoryBytes: c.memoryBytes)
        try mount("tmpfs", scratch + "/rw", "tmpfs", 0, "size=\(size),mode=0755")
        var st = stat()
        guard stat(image, &st) == 0 else { throw .system("cannot read the image's root", errno: errno) }
        // ya-runtime-vm ≥ 0.4.1 gives the upper directory the image root's mode (0700 before).
        guard mkdir(scratch + "/rw/upper", 0o755) == 0, chmod(scratch + "/rw/upper", st.st_mode & 0o7777) == 0,
            mkdir(scratch + "/rw/work", 0o700) == 0
        else {
            throw .system("cannot create the overlay's directories", errno: errno)
        }
        let lower: [UnsafeMutablePointer<CChar>?] = [strdup(image)]
        defer { for p in lower { free(p) } }
        let rc = lower.withUnsafeBufferPointer { l in
            gvmc_mount_overlay_layers(
                rootfs, UnsafeRawPointer(l.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self), 1,
                scratch + "/rw/upper", scratch + "/rw/work", UserNamespace.current != nil ? 1 : 0)
        }
        guard rc == 0 else { throw .system("cannot mount the overlay over the image at \(rootfs)", errno: errno) }
        record(rootfs)
        for v in volumes { try mountInRoot(v.path, source: v.hostDirectory, fstype: nil, flags: UInt(MS_BIND), data: nil) }
        try mountInRoot("/tmp", source: "tmpfs", fstype: "tmpfs", flags: UInt(MS_NOSUID), data: "mode=0777")
        try GuestFiles.write(root: rootfs)
        let (limits, note) = ResourceLimits.apply(memoryBytes: c.memoryBytes, cpus: c.cpus)
        self.limits = limits
        if let note { notes.append(note) }
        cleanupID = RunCleanup.shared.add { [limits] in limits.remove() }
    }

    /// Runs one process to its end; returns its exit status (128+signal when killed).
    public func run(_ p: ProviderProcess) throws(RunError) -> Int32 {
        try ProviderSemantics.checkRelativeCommand(p) { exists($0) }
        var spec = SandboxSpec(rootfs: rootfs, arguments: p.arguments, environment: p.environment)
        spec.executable = p.executable
        spec.workingDirectory = p.workingDirectory
        spec.uid = p.uid
        spec.gid = p.gid
        spec.isolateNetwork = !configuration.hostNetwork
        spec.loopbackUp = true
        spec.hostname = configuration.hostname
        spec.resolvConf = nil
        spec.hosts = nil
        do {
            return try Sandbox.run(spec)
        } catch {
            // Sandbox says "cannot start ARGV0 in ROOT: STEP: REASON"; the user gave a path.
            let detail = error.message.range(of: rootfs + ": ").map { String(error.message[$0.upperBound...]) } ?? error.message
            let provider = detail.hasPrefix("exec") || detail.hasPrefix("chdir") ? " (a provider cannot start it either)" : ""
            throw .cannotStart("cannot start \(p.executable): \(detail)\(provider)")
        }
    }

    /// Unmounts everything and removes the temporary directories (and the fresh volume
    /// directories, unless they are under a `--workdir` the user named).
    public func close() {
        limits?.remove()
        limits = nil
        RunCleanup.shared.remove(cleanupID)
        // The bind-mounted volumes go with their mounts; only then may the tree go.
        TemporaryDirectories.shared.release(mounts: mounted, directory: scratch)
        mounted = []
    }

    // MARK: - Setting up

    func note(_ text: String) { notes.append(text) }

    private func record(_ path: String) {
        mounted.append(path)
        TemporaryDirectories.shared.addMount(path)
    }

    private func mount(_ source: String, _ target: String, _ fstype: String?, _ flags: UInt, _ data: String?) throws(RunError) {
        guard Glibc.mount(source, target, fstype, flags, data) == 0 else {
            throw .system("cannot mount \(fstype ?? source) at \(target)", errno: errno)
        }
        record(target)
    }

    /// The image's squashfs through a read-only loop device limited to the squashfs part (the
    /// trailer is not the kernel's business), mounted read-only and nodev as init.c does.
    private func mountSquashFS(_ metadata: GVMIMetadata, at target: String) throws(RunError) {
        var device = [CChar](repeating: 0, count: 64)
        let loop = gvmc_loop_attach(configuration.imagePath, metadata.trailerOffset, &device, device.count)
        guard loop >= 0 else {
            throw .system("cannot attach \(configuration.imagePath) to a loop device", errno: errno)
        }
        // With autoclear the device detaches itself once this descriptor and the mount are gone.
        defer { Glibc.close(loop) }
        let path = Self.string(device)
        guard Glibc.mount(path, target, "squashfs", UInt(MS_RDONLY | MS_NODEV), nil) == 0 else {
            throw .image("the kernel cannot mount \(configuration.imagePath) as squashfs (\(path)): \(String(cString: strerror(errno)))")
        }
        record(target)
    }

    /// A mount over `path` inside the root: each component opened without following symlinks
    /// and created when missing (mode of the image's root), as init.c's create_dir_path does.
    private func mountInRoot(_ path: String, source: String, fstype: String?, flags: UInt, data: String?) throws(RunError) {
        var st = stat()
        _ = stat(rootfs, &st)
        var fd = open(rootfs, gvmc_o_path | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw .system("cannot open \(rootfs)", errno: errno) }
        defer { Glibc.close(fd) }
        for part in path.split(separator: "/").map(String.init) {
            var next = openat(fd, part, gvmc_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if next < 0 && errno == ENOENT {
                _ = mkdirat(fd, part, st.st_mode & 0o7777)
                next = openat(fd, part, gvmc_o_path | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard next >= 0 else {
                throw .image(
                    "a provider cannot mount \(path) in this image: /\(part) \(errno == ENOTDIR || errno == ELOOP ? "is a symlink or not a directory" : String(cString: strerror(errno))) (Golem's guest init opens each component without following symlinks)"
                )
            }
            Glibc.close(fd)
            fd = next
        }
        guard Glibc.mount(source, "/proc/self/fd/\(fd)", fstype, flags, data) == 0 else {
            throw .system("cannot mount \(fstype ?? source) at \(path) in the image", errno: errno)
        }
        record(rootfs + path)
    }

    /// A NUL-terminated C buffer as a String.
    static func string(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether `path` exists inside the root (symlinks resolved within it).
    private func exists(_ path: String) -> Bool {
        let rootfd = open(rootfs, gvmc_o_path | O_DIRECTORY | O_CLOEXEC)
        guard rootfd >= 0 else { return false }
        defer { Glibc.close(rootfd) }
        let fd = gvmc_open_in_root(rootfd, path, gvmc_o_path)
        guard fd >= 0 else { return false }
        defer { Glibc.close(fd) }
        return true
    }
}
