// Docker's container configuration: the `config` object of an image config, and what Golem's
// runtime reads from the .gvmi trailer (bollard 1.40's field names, PascalCase). Decoding takes
// the fields below and ignores the rest (AttachStdin, Tty, ...: a container's, not an image's).

/// A container's configuration as an image sets it (Docker's `Config`, OCI's `config`).
public struct ContainerConfig: Codable, Sendable, Equatable {
    public var hostname: String?
    public var domainname: String?
    public var user: String?
    /// `ExposedPorts`' keys (`80/tcp`), sorted.
    public var exposedPorts: [String]?
    /// `KEY=VALUE` strings.
    public var env: [String]?
    public var cmd: [String]?
    public var healthcheck: HealthConfig?
    public var argsEscaped: Bool?
    public var image: String?
    /// `Volumes`' keys (the mount points), sorted.
    public var volumes: [String]?
    public var workingDir: String?
    public var entrypoint: [String]?
    public var onBuild: [String]?
    public var labels: [String: String]?
    public var stopSignal: String?
    public var shell: [String]?

    public init() {}

    enum CodingKeys: String, CodingKey {
        case hostname = "Hostname", domainname = "Domainname", user = "User", exposedPorts = "ExposedPorts", env = "Env"
        case cmd = "Cmd", healthcheck = "Healthcheck", argsEscaped = "ArgsEscaped", image = "Image", volumes = "Volumes"
        case workingDir = "WorkingDir", entrypoint = "Entrypoint", onBuild = "OnBuild", labels = "Labels"
        case stopSignal = "StopSignal", shell = "Shell"
    }

    /// Reads a ContainerConfig JSON object (a .gvmi trailer, `docker inspect`'s Config, `--config`).
    public init(json: [UInt8], document: String) throws(ImageSpecError) {
        self = try JSONDocument.decode(ContainerConfig.self, from: json, document: document)
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname)
        domainname = try c.decodeIfPresent(String.self, forKey: .domainname)
        user = try c.decodeIfPresent(String.self, forKey: .user)
        exposedPorts = try c.decodeIfPresent([String: EmptyObject].self, forKey: .exposedPorts)?.keys.sorted()
        env = try c.decodeIfPresent([String].self, forKey: .env)
        cmd = try c.decodeIfPresent([String].self, forKey: .cmd)
        healthcheck = try c.decodeIfPresent(HealthConfig.self, forKey: .healthcheck)
        argsEscaped = try c.decodeIfPresent(Bool.self, forKey: .argsEscaped)
        image = try c.decodeIfPresent(String.self, forKey: .image)
        volumes = try c.decodeIfPresent([String: EmptyObject].self, forKey: .volumes)?.keys.sorted()
        workingDir = try c.decodeIfPresent(String.self, forKey: .workingDir)
        entrypoint = try c.decodeIfPresent([String].self, forKey: .entrypoint)
        onBuild = try c.decodeIfPresent([String].self, forKey: .onBuild)
        labels = try c.decodeIfPresent([String: String].self, forKey: .labels)
        stopSignal = try c.decodeIfPresent(String.self, forKey: .stopSignal)
        shell = try c.decodeIfPresent([String].self, forKey: .shell)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(hostname, forKey: .hostname)
        try c.encodeIfPresent(domainname, forKey: .domainname)
        try c.encodeIfPresent(user, forKey: .user)
        try c.encodeIfPresent(exposedPorts.map(EmptyObject.set), forKey: .exposedPorts)
        try c.encodeIfPresent(env, forKey: .env)
        try c.encodeIfPresent(cmd, forKey: .cmd)
        try c.encodeIfPresent(healthcheck, forKey: .healthcheck)
        try c.encodeIfPresent(argsEscaped, forKey: .argsEscaped)
        try c.encodeIfPresent(image, forKey: .image)
        try c.encodeIfPresent(volumes.map(EmptyObject.set), forKey: .volumes)
        try c.encodeIfPresent(workingDir, forKey: .workingDir)
        try c.encodeIfPresent(entrypoint, forKey: .entrypoint)
        try c.encodeIfPresent(onBuild, forKey: .onBuild)
        try c.encodeIfPresent(labels, forKey: .labels)
        try c.encodeIfPresent(stopSignal, forKey: .stopSignal)
        try c.encodeIfPresent(shell, forKey: .shell)
    }

    /// The environment as a dictionary (a later `KEY=` replaces an earlier one; no `=`: empty value).
    public var environment: [String: String] {
        var out: [String: String] = [:]
        for item in env ?? [] {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            out[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        return out
    }
}

/// Docker's HealthConfig; durations in nanoseconds.
public struct HealthConfig: Codable, Sendable, Equatable {
    /// `["NONE"]`, `["CMD", ...]`, `["CMD-SHELL", "..."]`; empty: inherit.
    public var test: [String]
    public var interval: Int64?
    public var timeout: Int64?
    public var retries: Int?
    public var startPeriod: Int64?
    public var startInterval: Int64?

    public init(
        test: [String], interval: Int64? = nil, timeout: Int64? = nil, retries: Int? = nil,
        startPeriod: Int64? = nil, startInterval: Int64? = nil
    ) {
        self.test = test; self.interval = interval; self.timeout = timeout; self.retries = retries
        self.startPeriod = startPeriod; self.startInterval = startInterval
    }

    enum CodingKeys: String, CodingKey {
        case test = "Test", interval = "Interval", timeout = "Timeout", retries = "Retries"
        case startPeriod = "StartPeriod", startInterval = "StartInterval"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        test = try c.decodeIfPresent([String].self, forKey: .test) ?? []
        interval = try c.decodeIfPresent(Int64.self, forKey: .interval)
        timeout = try c.decodeIfPresent(Int64.self, forKey: .timeout)
        retries = try c.decodeIfPresent(Int.self, forKey: .retries)
        startPeriod = try c.decodeIfPresent(Int64.self, forKey: .startPeriod)
        startInterval = try c.decodeIfPresent(Int64.self, forKey: .startInterval)
    }
}

/// The `{}` of Docker's sets (`Volumes`, `ExposedPorts`: keys mapped to empty objects). Any
/// object (or null) is taken; another kind of value is an error.
struct EmptyObject: Codable, Sendable {
    init() {}

    init(from decoder: Decoder) throws {
        if let single = try? decoder.singleValueContainer(), single.decodeNil() { return }
        _ = try decoder.container(keyedBy: AnyCodingKey.self)
    }

    func encode(to encoder: Encoder) throws { _ = encoder.container(keyedBy: AnyCodingKey.self) }

    static func set(_ keys: [String]) -> [String: EmptyObject] {
        Dictionary(keys.map { ($0, EmptyObject()) }, uniquingKeysWith: { a, _ in a })
    }
}

/// Any key of a JSON object.
struct AnyCodingKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
