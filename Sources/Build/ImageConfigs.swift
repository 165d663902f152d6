// Between the planner's ImageConfig and the trailer's ContainerConfig (Docker's field names).
import BuildPlan
import GVMI
import ImageSpec
import Registry
import RootFS

extension ContainerConfig {
    /// A pulled image's configuration (empty when the image has none).
    public init(of image: PulledImage) {
        self = image.config.value.trailerConfig
    }

    /// The trailer's configuration for a built image: User becomes numeric uid:gid through the
    /// image's passwd and group files.
    public init(_ c: ImageConfig, rootfs: String) throws {
        self.init()
        env = c.envList.isEmpty ? nil : c.envList
        cmd = c.cmd
        entrypoint = c.entrypoint
        workingDir = c.workingDir
        volumes = c.volumes.isEmpty ? nil : c.volumes
        labels = c.labels.isEmpty ? nil : c.labels
        exposedPorts = c.exposedPorts.isEmpty ? nil : c.exposedPorts
        stopSignal = c.stopSignal
        shell = c.shell
        onBuild = c.onBuild.isEmpty ? nil : c.onBuild
        if let h = c.healthcheck {
            healthcheck = HealthConfig(test: h.test, interval: h.interval == 0 ? nil : h.interval, timeout: h.timeout == 0 ? nil : h.timeout,
                                       retries: h.retries == 0 ? nil : h.retries, startPeriod: h.startPeriod == 0 ? nil : h.startPeriod,
                                       startInterval: h.startInterval == 0 ? nil : h.startInterval)
        }
        if let u = c.user {
            let ids = try UserDatabase(rootfs: rootfs).resolve(u)
            user = "\(ids.uid):\(ids.gid)"
        }
    }
}

extension ImageConfig {
    /// A base image's configuration as the planner inherits it.
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
        if let h = c.healthcheck {
            healthcheck = HealthcheckConfig(test: h.test, interval: h.interval ?? 0, timeout: h.timeout ?? 0,
                                            startPeriod: h.startPeriod ?? 0, startInterval: h.startInterval ?? 0, retries: h.retries ?? 0)
        }
    }
}
