// --vm: the image booted in qemu-system-x86_64 as ya-runtime-vm boots it (runtime/src/vmrt.rs):
// the .gvmi as a read-only raw virtio-blk drive, each volume a 9p share, -m and -smp from
// --memory and --cpus, no network device. The kernel is Debian's (or the one given), the
// initramfs gvmc's own (CPIOArchive: busybox, the modules, GuestInit's /init). KVM when it
// boots the guest, else TCG, saying which. The guest's stdout and stderr come back over two
// serial ports and its exit status as a marker line on the console.
import CSandbox
import GVMI
import Executor
import Sandbox
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// `gvmc run --vm`: the image booted in qemu as ya-runtime-vm boots it.
public final class VMRun {
    /// qemu's accelerator: KVM, TCG, or KVM when it boots the guest and TCG otherwise (`auto`).
    public enum Accelerator: String, Sendable { case auto, kvm, tcg }

    public private(set) var volumes: [PlannedVolume] = []
    public let configuration: RunConfiguration
    let metadata: GVMIMetadata
    let scratch: String
    private var qemu: pid_t = 0
    /// How long KVM gets to reach the guest's init before gvmc gives up on it (KVM guests here
    /// boot in a second or two; on this machine type KVM hangs instead).
    static let kvmBootTimeout: Double = 10

    public init(configuration: RunConfiguration, metadata: GVMIMetadata) throws(RunError) {
        self.configuration = configuration
        self.metadata = metadata
        guard !configuration.hostNetwork else { throw .vm("--vm has no network (--network host works in sandbox mode only)") }
        scratch = try makeTemporaryDirectory(prefix: "gvmc-vm")
        let workdir = configuration.workdir ?? scratch + "/work"
        do {
            volumes = try VolumePlan.plan(declared: metadata.config.volumes ?? [], bindings: configuration.bindings, workdir: workdir)
            for v in volumes where !v.bound { try makeDirectories(v.hostDirectory) }
        } catch {
            close()
            throw error
        }
    }

    /// Boots the VM, runs `process` in it and returns its exit status; `log` gets what gvmc says.
    /// `interactive`: `process` is `SHELL -c ""`, run once per line of standard input (each
    /// line's exit code logged) until its end; the last status is returned.
    public func run(
        _ process: ProviderProcess, interactive: Bool = false, accelerator: Accelerator, kernel: String?, modules: String?,
        log: @escaping (String) -> Void
    ) throws(RunError) -> Int32 {
        self.interactive = interactive
        self.log = log
        if !interactive { try checkCommand(process) }
        guard let qemuPath = UserNamespace.findExecutable("qemu-system-x86_64") else {
            throw .missingTool("qemu-system-x86_64", package: "qemu-system-x86", purpose: "--vm boots the image in it")
        }
        let busybox = try Self.staticBusybox()
        let guest = try GuestKernel.locate(kernel: kernel, modules: modules)
        try writeInitramfs(process, guest: guest, busybox: busybox)
        var useKVM = false
        switch accelerator {
        case .tcg: log("accelerator: TCG (software emulation, as asked)")
        case .kvm: useKVM = true; log("accelerator: KVM")
        case .auto:
            if let reason = Self.kvmUnusable() {
                log("accelerator: TCG (software emulation; KVM: \(reason))")
            } else {
                useKVM = true
                log("accelerator: KVM")
            }
        }
        var outcome = try boot(qemuPath, guest: guest, kvm: useKVM, bootTimeout: useKVM && accelerator == .auto ? Self.kvmBootTimeout : nil)
        if case .notBooted(let why) = outcome, useKVM, accelerator == .auto {
            log("KVM did not boot the guest (\(why)); running again under TCG (software emulation)")
            outcome = try boot(qemuPath, guest: guest, kvm: false, bootTimeout: nil)
        }
        switch outcome {
        case .exited(let status): return status
        case .failed(let why): throw .vm("the guest could not start the image as a provider would: \(why)")
        case .cannotStart(let why): throw .cannotStart("cannot start \(process.executable): \(why) (a provider cannot start it either)")
        case .notBooted(let why): throw .vm("the VM did not boot: \(why)")
        }
    }

    /// Stops qemu if it runs and removes the temporary directory (fresh volumes in it too).
    public func close() {
        stopQemu()
        TemporaryDirectories.shared.release(mounts: [], directory: scratch)
    }

    /// qemu dies with gvmc anyway (a parent-death signal), Ctrl-C included.
    private func stopQemu() {
        if qemu > 0 { kill(qemu, SIGKILL) }
    }

    // MARK: - The guest

    /// A command that is no path fails on a provider: said before a VM is booted, by looking at
    /// the image's listing (the same explanation as in sandbox mode).
    private func checkCommand(_ process: ProviderProcess) throws(RunError) {
        guard !process.executable.contains("/") else { return }
        let entries: [ImageEntry]
        do { entries = try SquashFSReader(path: configuration.imagePath).entries() } catch {
            throw .imageUnreadable(path: configuration.imagePath, unpacking: false, cause: error)
        }
        let paths = Set(entries.map(\.path))
        try ProviderSemantics.checkRelativeCommand(process) { paths.contains($0) }
    }

    private func writeInitramfs(_ process: ProviderProcess, guest: GuestKernel, busybox: [UInt8]) throws(RunError) {
        var cpio = CPIOArchive()
        for dir in ["bin", "dev", "proc", "sys", "mnt", "modules"] { cpio.directory(dir) }
        cpio.characterDevice("dev/console", major: 5, minor: 1)
        cpio.file("bin/busybox", busybox, mode: 0o755)
        var loaded: [String] = []
        for (i, module) in guest.modules.enumerated() {
            guard let bytes = readBytes(guest.modulesDirectory + "/" + module) else {
                throw .vm("cannot read the module \(guest.modulesDirectory)/\(module)")
            }
            let name = "modules/\(i)-" + (module.split(separator: "/").last.map(String.init) ?? module)
            cpio.file(name, bytes)
            loaded.append("/" + name)
        }
        let script = GuestInit.script(
            modules: loaded, version: configuration.version, memoryBytes: configuration.memoryBytes,
            volumes: volumes.map(\.path), process: process, hostname: configuration.hostname,
            interactive: interactive)
        cpio.file("init", Array(script.utf8), mode: 0o755)
        try writeFile(scratch + "/initramfs.cpio", cpio.finished())
    }

    // MARK: - qemu

    enum Outcome { case exited(Int32), failed(String), cannotStart(String), notBooted(String) }

    /// ya-runtime-vm's qemu command line (vmrt.rs), with gvmc's serial ports for the output.
    func arguments(_ qemuPath: String, guest: GuestKernel, kvm: Bool) -> [String] {
        var a = [
            qemuPath, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
            "-m", "\(max(64, configuration.memoryBytes >> 20))M", "-smp", "\(max(1, Int(configuration.cpus.rounded(.up))))"
        ]
        a += kvm ? ["-accel", "kvm", "-cpu", "host,-sgx"] : ["-accel", "tcg", "-cpu", "max"]
        a += [
            "-kernel", guest.kernel, "-initrd", scratch + "/initramfs.cpio",
            "-append", "console=ttyS0 panic=1 quiet loglevel=3 hostname=\(configuration.hostname)"
        ]
        for i in 0..<4 {
            a += ["-chardev", "pipe,id=serial\(i),path=\(scratch)/ttyS\(i)", "-serial", "chardev:serial\(i)"]
        }
        a += [
            "-drive", "file=\(configuration.imagePath),cache=unsafe,readonly=on,format=raw,id=rootfs-0,if=none",
            "-device", "virtio-blk-pci,drive=rootfs-0,serial=rootfs-0"
        ]
        for (i, v) in volumes.enumerated() {
            a += ["-virtfs", "local,path=\(v.hostDirectory),security_model=none,mount_tag=mnt\(i)"]
        }
        return a
    }

    private func boot(_ qemuPath: String, guest: GuestKernel, kvm: Bool, bootTimeout: Double?) throws(RunError) -> Outcome {
        var fds: [Int32] = []
        defer { for fd in fds where fd >= 0 { Glibc.close(fd) } }
        for i in 0..<4 {
            let base = "\(scratch)/ttyS\(i)"
            for suffix in [".in", ".out"] {
                unlink(base + suffix)
                guard mkfifo(base + suffix, 0o600) == 0 else { throw .system("mkfifo \(base)\(suffix)", errno: errno) }
            }
            // ttyS3 carries the interactive session's lines to the guest, nothing back.
            if i < 3 { fds.append(open(base + ".out", O_RDONLY | O_NONBLOCK | O_CLOEXEC)) }
        }
        var session = LineFeeder(active: interactive, fifo: "\(scratch)/ttyS3.in")
        defer { session.close() }
        let logFD = open(scratch + "/qemu.log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        let devNull = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { Glibc.close(logFD); Glibc.close(devNull) }
        let argv = arguments(qemuPath, guest: guest, kvm: kvm).map { strdup($0) } + [nil]
        let envp = environmentStrings().map { strdup($0) } + [nil]
        defer { for p in argv + envp { free(p) } }
        let pid = argv.withUnsafeBufferPointer { a in
            envp.withUnsafeBufferPointer { e in
                gvmc_spawn_tied(
                    qemuPath, UnsafeRawPointer(a.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self),
                    UnsafeRawPointer(e.baseAddress!).assumingMemoryBound(to: UnsafePointer<CChar>?.self), devNull, logFD, logFD)
            }
        }
        guard pid > 0 else { throw .system("cannot start \(qemuPath)", errno: errno) }
        qemu = pid
        defer { qemu = 0 }
        let started = monotonicSeconds()
        var console: [UInt8] = [], booted = false, status: Int32?, failure: String?, refusal: String?, exited = false
        var buffer = [UInt8](repeating: 0, count: 65536)
        while fds.contains(where: { $0 >= 0 }) {
            if booted && !exited { session.sendNextLine() }
            var polled = fds.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if session.wantsInput && booted && !exited { polled.append(pollfd(fd: 0, events: Int16(POLLIN), revents: 0)) }
            let r = poll(&polled, nfds_t(polled.count), exited ? 0 : 200)
            if r < 0 && errno != EINTR { break }
            var gotData = false
            for p in polled where p.revents != 0 {
                if p.fd == 0 { session.readInput(); continue }
                guard let i = fds.firstIndex(of: p.fd) else { continue }
                let n = read(p.fd, &buffer, buffer.count)
                if n < 0 && (errno == EAGAIN || errno == EINTR) { continue }
                if n <= 0 { Glibc.close(p.fd); fds[i] = -1; continue }
                gotData = true
                if i == 0 {
                    // Bytes, not a String: "\r\n" from the serial line is one Character.
                    console += buffer[0..<n]
                    while let newline = console.firstIndex(of: 10) {
                        let line = Substring(String(decoding: console[..<newline], as: UTF8.self)).trimmingCharacters(in: "\r")
                        console.removeSubrange(...newline)
                        if line.hasSuffix(GuestInit.bootedMarker) { booted = true }
                        if let r = line.range(of: GuestInit.exitMarker) {
                            status = Int32(line[r.upperBound...])
                            if interactive { log("exit code \(status ?? -1)"); session.lineDone() }
                        }
                        if interactive, let r = line.range(of: GuestInit.cannotStartMarker) {
                            log("error: cannot start the shell: \(line[r.upperBound...]) (a provider cannot start it either)")
                            session.lineDone()
                            continue
                        }
                        if let r = line.range(of: GuestInit.failedMarker) { failure = String(line[r.upperBound...]) }
                        if let r = line.range(of: GuestInit.cannotStartMarker) { refusal = String(line[r.upperBound...]) }
                        consoleLog.append(String(line))
                        if consoleLog.count > 40 { consoleLog.removeFirst() }
                    }
                } else {
                    _ = buffer.withUnsafeBytes { b in writeAll(Int32(i), UnsafeRawBufferPointer(rebasing: b[0..<n])) }
                }
            }
            if !exited {
                var st: Int32 = 0
                if waitpid(pid, &st, WNOHANG) == pid { exited = true; qemuStatus = st }
                if let limit = bootTimeout, !booted, !exited, monotonicSeconds() - started > limit {
                    kill(pid, SIGKILL)
                    waitpid(pid, &st, 0)
                    return .notBooted("no guest init after \(Int(limit)) s")
                }
            } else if !gotData {
                break  // qemu is gone and the pipes are drained
            }
        }
        if !exited { var st: Int32 = 0; waitpid(pid, &st, 0); qemuStatus = st }
        if interactive && session.ended { return .exited(status ?? 0) }
        if let status { return .exited(status) }
        if let failure { return .failed(failure) }
        if let refusal { return .cannotStart(refusal) }
        let qemuLog = readText(scratch + "/qemu.log") ?? ""
        let detail = (qemuLog.split(separator: "\n").suffix(3).map(String.init) + consoleLog.suffix(10)).joined(separator: "\n  ")
        return booted
            ? .failed("the guest stopped before the command ended:\n  \(detail)")
            : .notBooted("qemu ended (status \(qemuStatus)) before the guest's init ran:\n  \(detail)")
    }

    private var consoleLog: [String] = []
    private var interactive = false
    private var log: (String) -> Void = { _ in }
    private var qemuStatus: Int32 = 0

    // MARK: - Helpers

    /// The Debian busybox-static binary (a dynamic busybox cannot run in the initramfs).
    static func staticBusybox() throws(RunError) -> [UInt8] {
        for path in ["/bin/busybox", "/usr/bin/busybox"] {
            guard let bytes = readBytes(path) else { continue }
            if isStaticELF(bytes) { return bytes }
            throw .missingTool(
                "a static busybox (\(path) is dynamically linked)", package: "busybox-static", purpose: "--vm's guest init runs on it")
        }
        throw .missingTool("busybox", package: "busybox-static", purpose: "--vm's guest init runs on it")
    }

    /// An ELF executable without a PT_INTERP program header (no dynamic loader).
    static func isStaticELF(_ b: [UInt8]) -> Bool {
        guard b.count > 64, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46, b[4] == 2 else { return false }
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        let phoff = u32(32) | u32(36) << 32, size = u16(54), count = u16(56)
        for i in 0..<count {
            let at = phoff + i * size
            guard at + 4 <= b.count else { return false }
            if u32(at) == 3 { return false }
        }
        return true
    }

    /// Why KVM cannot be used, or nil when /dev/kvm opens.
    static func kvmUnusable() -> String? {
        let fd = open("/dev/kvm", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return "/dev/kvm: \(String(cString: strerror(errno)))" }
        Glibc.close(fd)
        return nil
    }

    private func environmentStrings() -> [String] {
        var out: [String] = []
        var p = environ
        while let s = p.pointee { out.append(String(cString: s)); p += 1 }
        return out
    }

    private func writeFile(_ path: String, _ bytes: [UInt8]) throws(RunError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .system("cannot create \(path)", errno: errno) }
        defer { Glibc.close(fd) }
        guard bytes.withUnsafeBytes({ writeAll(fd, $0) }) else { throw .system("cannot write \(path)", errno: errno) }
    }
}

@discardableResult
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var done = 0
    while done < bytes.count {
        let n = write(fd, bytes.baseAddress! + done, bytes.count - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 { return false }
        done += n
    }
    return true
}

func monotonicSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_MONOTONIC, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

extension Substring {
    func trimmingCharacters(in set: Character) -> Substring {
        var s = self
        while s.last == set { s.removeLast() }
        while s.first == set { s.removeFirst() }
        return s
    }
}

/// The interactive session's side of ttyS3: lines of standard input sent one at a time, the next
/// once the guest reports the previous one's exit code; at the end of input, the end line.
struct LineFeeder {
    let active: Bool
    let fifo: String
    private var fd: Int32 = -1
    private var pending: [UInt8] = []
    private var inputEnded = false
    private var awaiting = false
    private(set) var ended = false

    init(active: Bool, fifo: String) { self.active = active; self.fifo = fifo }

    var wantsInput: Bool { active && !inputEnded && !awaiting && !pending.contains(10) }

    mutating func readInput() {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = read(0, &buffer, buffer.count)
        if n < 0 && (errno == EINTR || errno == EAGAIN) { return }
        if n <= 0 {
            inputEnded = true
            if !pending.isEmpty { pending.append(10) }
            return
        }
        pending += buffer[0..<n]
    }

    mutating func lineDone() { awaiting = false }

    /// Sends the next non-blank line when the guest is idle, or the end line after the input.
    mutating func sendNextLine() {
        guard active, !awaiting, !ended else { return }
        while let newline = pending.firstIndex(of: 10) {
            let line = Array(pending[..<newline])
            pending.removeSubrange(...newline)
            if line.allSatisfy({ $0 == 32 || $0 == 9 }) { continue }
            send(line)
            awaiting = true
            return
        }
        if inputEnded {
            send(Array(GuestInit.endLine.utf8))
            ended = true
        }
    }

    private mutating func send(_ line: [UInt8]) {
        // qemu holds the FIFO open for reading (O_RDWR), so this open does not wait.
        if fd < 0 { fd = open(fifo, O_WRONLY | O_CLOEXEC) }
        _ = (line + [10]).withUnsafeBytes { writeAll(fd, $0) }
    }

    mutating func close() { if fd >= 0 { Glibc.close(fd); fd = -1 } }
}
