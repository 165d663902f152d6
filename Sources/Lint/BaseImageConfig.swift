// What lint knows about a base image when its configuration is given (`--base-config`, or later
// from the registry cache): inherited Env, Cmd/Entrypoint, User, Volumes, WorkingDir, platform.
import Foundation

public struct BaseImageConfig: Sendable, Equatable {
    public var env: [String: String] = [:]
    public var cmd: [String]?
    public var entrypoint: [String]?
    public var user: String?
    public var volumes: [String] = []
    public var workingDir: String?
    public var os: String?
    public var architecture: String?
    public var variant: String?

    public init() {}

    /// Parses an OCI/Docker image configuration (`{"architecture", "os", "config": {...}}`, as
    /// `skopeo inspect --config` prints it) or a bare ContainerConfig object.
    public init(json: [UInt8], source: String) throws(LintConfigError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)) as? [String: Any] else {
            throw LintConfigError(path: source, message: "not a JSON object")
        }
        let config = (object["config"] as? [String: Any]) ?? (object["Config"] as? [String: Any]) ?? object
        os = object["os"] as? String
        architecture = object["architecture"] as? String
        variant = object["variant"] as? String
        for item in config["Env"] as? [String] ?? [] {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            env[String(kv[0])] = kv.count > 1 ? String(kv[1]) : ""
        }
        cmd = config["Cmd"] as? [String]
        entrypoint = config["Entrypoint"] as? [String]
        user = (config["User"] as? String).flatMap { $0.isEmpty ? nil : $0 }
        volumes = ((config["Volumes"] as? [String: Any])?.keys.sorted()) ?? []
        workingDir = (config["WorkingDir"] as? String).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// `os/arch[/variant]` when known.
    public var platform: String? {
        guard let os, let architecture else { return nil }
        return [os, architecture, variant].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "/")
    }
}
