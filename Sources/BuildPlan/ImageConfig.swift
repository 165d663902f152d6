// The image configuration a stage builds up (Docker's Config): what ends up in the .gvmi trailer
// for the target stage, and what child stages inherit.

public struct HealthcheckConfig: Sendable, Equatable {
    public var test: [String]
    public var interval: Int64, timeout: Int64, startPeriod: Int64, startInterval: Int64
    public var retries: Int

    public init(test: [String], interval: Int64, timeout: Int64, startPeriod: Int64, startInterval: Int64, retries: Int) {
        self.test = test
        self.interval = interval
        self.timeout = timeout
        self.startPeriod = startPeriod
        self.startInterval = startInterval
        self.retries = retries
    }
}

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
    public var healthcheck: HealthcheckConfig?
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
