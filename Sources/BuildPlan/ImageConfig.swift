// The image configuration a stage builds up: what ends up in the .gvmi trailer for the target
// stage, and what child stages inherit. It converts from a base image's ContainerConfig and to
// the target's (ImageSpec's types are the documents; this is the planner's working state).
import ImageSpec

/// A stage's configuration while the planner runs its instructions. Not ImageSpec's
/// ContainerConfig, because it is working state rather than a document: the environment keeps
/// definition order and is looked up by key as ENV and ARG expansion need, collections are empty
/// rather than absent, and the shell has its default. `init(_:)` takes a base image's
/// configuration; `containerConfig(user:)` gives the trailer's.
public struct ImageConfig: Sendable, Equatable {
    /// Environment in order of first definition (`KEY=VALUE` semantics, later values replace).
    public var env: [(key: String, value: String)] = []
    public var workingDir: String?
    public var user: String?
    public var volumes: [String] = []
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var labels: [String: String] = [:]
    public var exposedPorts: [String] = []
    /// Durations and retries left at Docker's defaults are absent (nil), never 0.
    public var healthcheck: HealthConfig?
    public var stopSignal: String?
    public var shell: [String]?
    public var onBuild: [String] = []

    public init() {}

    public static func == (a: ImageConfig, b: ImageConfig) -> Bool {
        a.env.map { "\($0.key)=\($0.value)" } == b.env.map { "\($0.key)=\($0.value)" } && a.workingDir == b.workingDir
            && a.user == b.user && a.volumes == b.volumes && a.cmd == b.cmd && a.entrypoint == b.entrypoint
            && a.labels == b.labels && a.exposedPorts == b.exposedPorts && a.healthcheck == b.healthcheck
            && a.stopSignal == b.stopSignal && a.shell == b.shell && a.onBuild == b.onBuild
    }

    public mutating func setEnv(_ key: String, _ value: String) {
        if let i = env.firstIndex(where: { $0.key == key }) { env[i].value = value } else { env.append((key, value)) }
    }

    public func envValue(_ key: String) -> String? { env.first { $0.key == key }?.value }

    /// `KEY=VALUE` strings, as the image config stores them.
    public var envList: [String] { env.map { "\($0.key)=\($0.value)" } }

    /// The shell that wraps shell-form commands.
    public var effectiveShell: [String] { shell ?? ["/bin/sh", "-c"] }
}

extension ImageConfig {
    /// A base image's configuration as the planner inherits it (empty WorkingDir and User are
    /// unset; an environment entry without `=` has an empty value).
    public init(_ c: ContainerConfig) {
        self.init()
        for item in c.env ?? [] {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            setEnv(String(kv[0]), kv.count > 1 ? String(kv[1]) : "")
        }
        workingDir = c.workingDir.flatMap { $0.isEmpty ? nil : $0 }
        user = c.user.flatMap { $0.isEmpty ? nil : $0 }
        volumes = c.volumes ?? []
        cmd = c.cmd
        entrypoint = c.entrypoint
        labels = c.labels ?? [:]
        exposedPorts = c.exposedPorts ?? []
        stopSignal = c.stopSignal
        shell = c.shell
        onBuild = c.onBuild ?? []
        healthcheck = c.healthcheck.map {
            Self.healthcheck(
                test: $0.test, interval: $0.interval ?? 0, timeout: $0.timeout ?? 0, startPeriod: $0.startPeriod ?? 0,
                startInterval: $0.startInterval ?? 0, retries: $0.retries ?? 0)
        }
    }

    /// A HEALTHCHECK as the configuration holds it: Docker's 0 ("the default") is absent.
    static func healthcheck(
        test: [String], interval: Int64, timeout: Int64, startPeriod: Int64, startInterval: Int64,
        retries: Int
    ) -> HealthConfig {
        HealthConfig(
            test: test, interval: interval == 0 ? nil : interval, timeout: timeout == 0 ? nil : timeout,
            retries: retries == 0 ? nil : retries, startPeriod: startPeriod == 0 ? nil : startPeriod,
            startInterval: startInterval == 0 ? nil : startInterval)
    }

    /// The trailer's configuration for this stage; `user` is USER as the trailer takes it
    /// (the build makes a name numeric through the image's passwd and group first).
    public func containerConfig(user: String?) -> ContainerConfig {
        var c = ContainerConfig()
        c.env = envList.isEmpty ? nil : envList
        c.cmd = cmd
        c.entrypoint = entrypoint
        c.workingDir = workingDir
        c.volumes = volumes.isEmpty ? nil : volumes
        c.labels = labels.isEmpty ? nil : labels
        c.exposedPorts = exposedPorts.isEmpty ? nil : exposedPorts
        c.stopSignal = stopSignal
        c.shell = shell
        c.onBuild = onBuild.isEmpty ? nil : onBuild
        c.healthcheck = healthcheck
        c.user = user
        return c
    }
}
