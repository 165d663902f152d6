// What lint knows about a base image when its configuration is given (`--base-config`, or
// `--pull` from the registry): ImageSpec's image configuration, read from the forms those take,
// and what a stage inherits from it (Env, Cmd/Entrypoint, User, Volumes, WorkingDir, platform).
import ImageSpec

extension ImageConfiguration {
    /// Reads an OCI/Docker image configuration (`{"architecture", "os", "config": {...}}`, as
    /// `skopeo inspect --config` prints it), `docker inspect`'s object (`Config`), or a bare
    /// ContainerConfig object. A field of the wrong type is an error naming it.
    public init(baseConfig json: [UInt8], source: String) throws(LintConfigError) {
        do throws(ImageSpecError) {
            self = try JSONDocument.decode(ImageConfiguration.self, from: json, document: source)
            if config == nil {
                config = try JSONDocument.decode(DockerInspectConfig.self, from: json, document: source).config
            }
            if config == nil {
                config = try JSONDocument.decode(ContainerConfig.self, from: json, document: source)
            }
        } catch {
            throw LintConfigError(path: source, message: error.reason, cause: error)
        }
    }

    /// The environment a stage inherits.
    var inheritedEnv: [String: String] { config?.environment ?? [:] }
    var inheritedCmd: [String]? { config?.cmd }
    var inheritedEntrypoint: [String]? { config?.entrypoint }
    var inheritedVolumes: [String] { config?.volumes ?? [] }
    /// User and WorkingDir, when set to something.
    var inheritedUser: String? { config?.user.flatMap { $0.isEmpty ? nil : $0 } }
    var inheritedWorkingDir: String? { config?.workingDir.flatMap { $0.isEmpty ? nil : $0 } }

    /// `os/arch[/variant]` when known.
    var platformName: String? {
        guard let os, let architecture else { return nil }
        return [os, architecture, variant].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: "/")
    }
}

/// `docker inspect`'s image object: the container configuration is `Config`.
private struct DockerInspectConfig: Decodable {
    var config: ContainerConfig?
    enum CodingKeys: String, CodingKey { case config = "Config" }
}
