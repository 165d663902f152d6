// `gvmc run`: a .gvmi run the way a Golem provider runs it (Runtime), in a sandbox or in qemu.
import ArgumentParser
import BuildCache
import ImageSpec
import Registry
import GolemRegistry
import Foundation
import GVMI
import Progress
import Runtime
import Sandbox

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a .gvmi as a Golem provider runs it: no PATH search, numeric USER or root, VOLUMEs empty, ENV per runtime version.",
        discussion: """
            Without COMMAND, each line typed runs as SHELL -c LINE (as ya-runtime-dbg does) until Ctrl-D. \
            With `-- COMMAND [ARG...]` that argv is exec'd as Golem execs it (an absolute path is needed) and \
            gvmc run exits with its status (125: the run could not be set up, 126: the command could not be \
            started, 127: it does not exist).
            """)

    @Argument(
        help:
            "The .gvmi file, or an image in the Golem registry: USER/REPO:TAG or its SHA3-224 hash (pulled into the cache and checked first)."
    )
    var image: String

    @Option(help: "The Golem registry for an image given by tag or hash (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(help: "The cache directory that keeps pulled images (default: $XDG_CACHE_HOME/gvmc, else ~/.cache/gvmc).")
    var cacheDir: String?

    @Option(help: "Progress of an image pulled from the registry, on standard error: auto, plain, tty, quiet or rawjson (as build's).")
    var progress: ProgressMode = .auto

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    @Flag(help: "Run the image's ENTRYPOINT and CMD (a provider's start-entrypoint mode).")
    var entrypoint = false

    @Option(
        name: [.customShort("v"), .customLong("volume")],
        help: "HOST_DIR:VOLUME: a host directory for one of the image's volumes (repeatable).")
    var volumes: [String] = []

    @Option(help: "Where fresh volume directories are made and kept (default: a temporary directory, removed at the end).")
    var workdir: String?

    @Option(help: "The ya-runtime-vm version to imitate: 0.5 (current providers: empty environment) or 0.4 (the image's ENV).")
    var golemRuntime: String = GolemRuntimeVersion.current.rawValue

    @Option(
        name: [.customShort("e"), .customLong("env")],
        help: "K=V: a variable the requestor's command passes (repeatable; dropped by 0.5.x).")
    var env: [String] = []

    @Option(help: "The VM's memory (provider default 0.25 GiB): sizes the RAM overlay (and the cgroup limit where the host allows).")
    var memory: String = "0.25"

    @Option(help: "The VM's CPUs (provider default 1).")
    var cpus: Double = 1

    @Option(help: "none (default: a provider without an outbound manifest) or host.")
    var network: String = "none"

    @Option(help: "The shell interactive lines run with.")
    var shell: String = "/bin/sh"

    @Flag(help: "Boot the image in qemu-system-x86_64 as ya-runtime-vm does (KVM when it works, else TCG).")
    var vm = false

    @Option(help: "--vm: the kernel (default: the newest /boot/vmlinuz-*).")
    var kernel: String?

    @Option(help: "--vm: the kernel's modules directory, with modules.dep (default: /lib/modules/<its version>).")
    var modules: String?

    @Option(help: "--vm: auto (KVM when it boots the guest, else TCG), kvm or tcg.")
    var accel: String = "auto"

    func validate() throws {
        guard GolemRuntimeVersion(rawValue: golemRuntime) != nil else { throw ValidationError("--golem-runtime must be 0.5 or 0.4") }
        guard RunConfiguration.parseSize(memory) != nil else {
            throw ValidationError("--memory \(memory): expected a size such as 512M, 1G or 0.25 (GiB)")
        }
        guard cpus > 0 && cpus <= 1024 else { throw ValidationError("--cpus must be a positive number") }
        guard ["none", "host"].contains(network) else { throw ValidationError("--network must be none or host") }
        if entrypoint && !command.isEmpty { throw ValidationError(RunError.entrypointWithCommand.description) }
        for e in env where !e.contains("=") { throw ValidationError("--env \(e): expected K=V") }
        if !vm && (kernel != nil || modules != nil) { throw ValidationError("--kernel and --modules need --vm") }
        guard VMRun.Accelerator(rawValue: accel) != nil else { throw ValidationError("--accel must be auto, kvm or tcg") }
    }

    func run() throws {
        // The sandbox's mounts live in a mount namespace of their own (as root) or in a user
        // namespace's (unprivileged): gvmc runs again in one, and they die with it. An image of
        // the registry is looked up and pulled there, once (qemu needs no namespace).
        if !vm && !MountNamespace.isPrivate {
            let outcome =
                geteuid() == 0
                ? MountNamespace.reexec(arguments: CommandLine.arguments)
                : UserNamespace.reexec(arguments: CommandLine.arguments, log: { printError($0) })
            switch outcome {
            case .exited(let status): throw ExitCode(status)
            case .unavailable(let reason):
                printError("error: gvmc run needs a mount namespace of its own: \(reason)")
                throw ExitCode(125)
            }
        }
        let imagePath = try localImage()
        var c = RunConfiguration(imagePath: imagePath)
        c.request = entrypoint ? .entrypoint : command.isEmpty ? nil : .command(command)
        c.shell = shell
        c.version = GolemRuntimeVersion(rawValue: golemRuntime)!
        c.environment = env
        c.bindings = volumes
        c.workdir = workdir.map { ($0 as NSString).standardizingPath }.map {
            $0.hasPrefix("/") ? $0 : FileManager.default.currentDirectoryPath + "/" + $0
        }
        c.memoryBytes = RunConfiguration.parseSize(memory)!
        c.cpus = cpus
        c.hostNetwork = network == "host"
        if vm {
            throw ExitCode(try runInVM(c, imagePath: imagePath))
        }
        let metadata: GVMIMetadata
        do { metadata = try GVMIInspector.metadata(path: imagePath) } catch {
            printError("error: \(image): \(error)")
            throw ExitCode(125)
        }
        let session: SandboxRun
        do { session = try SandboxRun(configuration: c, metadata: metadata) } catch {
            printError("error: \(error)")
            throw ExitCode(error.exitStatus)
        }
        defer { session.close() }
        for note in session.notes { printError("note: \(note)") }
        printVolumes(session.volumes, c)
        guard let request = c.request else {
            _ = InteractiveSession.run(shell: shell) { request throws(RunError) in
                let status = try execute(request, config: metadata.config, c, in: session)
                waitIfInterrupted()
                return status
            }
            return
        }
        let status: Int32
        do { status = try execute(request, config: metadata.config, c, in: session) } catch {
            printError("error: \(error)")
            throw ExitCode(error.exitStatus)
        }
        waitIfInterrupted()
        throw ExitCode(status)
    }

    /// After Ctrl-C the command ends killed; the signal thread is taking everything down and
    /// exits with 128+signal. This thread must not exit first (with the killed command's status,
    /// cutting the cleanup short).
    private func waitIfInterrupted() {
        guard RunningSandboxes.shared.isInterrupted else { return }
        while true { pause() }
    }

    private func execute(
        _ request: ProcessRequest, config: ContainerConfig, _ c: RunConfiguration, in session: SandboxRun
    ) throws(RunError) -> Int32 {
        let (process, warnings) = try ProviderSemantics.process(
            config: config, request: request, version: c.version, extraEnvironment: c.environment)
        for w in warnings { printError("warning: \(w)") }
        return try session.run(process)
    }

    /// --vm: the same run in qemu (no namespaces needed here: qemu isolates it).
    private func runInVM(_ c: RunConfiguration, imagePath: String) throws -> Int32 {
        let metadata: GVMIMetadata
        do { metadata = try GVMIInspector.metadata(path: imagePath) } catch {
            printError("error: \(image): \(error)")
            return 125
        }
        do {
            let run = try VMRun(configuration: c, metadata: metadata)
            defer { run.close() }
            printVolumes(run.volumes, c)
            // Interactive: one VM, `SHELL -c LINE` per line (the line filled in by the guest).
            let request = c.request ?? .shellLine(shell: shell, line: "")
            let (process, warnings) = try ProviderSemantics.process(
                config: metadata.config, request: request, version: c.version, extraEnvironment: c.environment)
            for w in warnings { printError("warning: \(w)") }
            let status = try run.run(
                process, interactive: c.request == nil, accelerator: VMRun.Accelerator(rawValue: accel)!,
                kernel: kernel, modules: modules
            ) { printError($0) }
            waitIfInterrupted()
            return c.request == nil ? 0 : status
        } catch {
            printError("error: \(error)")
            return error.exitStatus
        }
    }

    private func printVolumes(_ volumes: [PlannedVolume], _ c: RunConfiguration) {
        for v in volumes {
            printError(
                "volume \(v.path) → \(v.hostDirectory)\(v.bound ? "" : c.workdir == nil ? " (removed at the end; --workdir DIR keeps it)" : "")"
            )
        }
    }

    /// The image as a file: the path given, or the registry's image for a tag or hash, pulled
    /// into the cache (`golem-images/<sha3>.gvmi`, checked against its hash) unless already there.
    private func localImage() throws -> String {
        if FileManager.default.fileExists(atPath: image) || image.hasSuffix(".gvmi")
            || image.contains("/") && !GolemImageName.looksLikeTaggedName(image)
        {
            return image
        }
        let reference: ImagePull.Reference
        do { reference = try ImagePull.Reference(image) } catch {
            printError("error: \(image): no such file, and not an image of the Golem registry (USER/REPO:TAG or a SHA3-224 hash)")
            throw ExitCode(125)
        }
        let cacheDirectory = absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        let cache = CacheLayout(cacheDirectory).golemImages
        let registryURL = registry ?? PushOptions.defaultRegistry()
        do {
            try FileManager.default.createDirectory(atPath: cache, withIntermediateDirectories: true)
            // The image is a cache entry `gvmc prune --all` may remove: the cache is held in use
            // (as builds hold it) until this run ends, and the image's use recorded (its atime,
            // which prune reads, set even on a noatime mount).
            CacheUse.holdShared(cacheDirectory)
            func used(_ path: String) -> String {
                CacheUse.accessed(path)
                return path
            }
            if case .hash(let hash) = reference, FileManager.default.fileExists(atPath: cache + "/" + hash + ".gvmi") {
                return used(cache + "/" + hash + ".gvmi")
            }
            // One question to the registry names the cache file and what to download.
            let info = try ImagePull.resolve(reference, registry: registryURL, count: false)
            let path = cache + "/" + info.sha3 + ".gvmi"
            if FileManager.default.fileExists(atPath: path) { return used(path) }
            // The download as a vertex with its bar, as `gvmc pull` shows it.
            let display = BuildProgress(mode: progress, title: "Pulling")
            let shown = RegistryDisplay(
                display, names: [.downloading: "pulling \(image) (sha3:\(info.sha3)) from \(Publishing.trimmedRegistry(registryURL))"])
            defer { display.close() }
            do {
                try ImagePull.pull(info, to: path, registry: registryURL, progress: shown.progress, log: { shown.log($0) })
                shown.finish()
            } catch {
                shown.fail("\(image): \(error)")
                throw ExitCode(125)
            }
            return path
        } catch let e as GolemRegistryError {
            printError("error: \(image): \(e)")
            throw ExitCode(125)
        }
    }
}
