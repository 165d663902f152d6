// Golem registry credentials: REGISTRY_USER/REGISTRY_TOKEN from the environment (as gvmkit-build
// takes them), else what `gvmc login` stored in a file only the user can read, keyed by registry URL.
import Foundation
import ImageSpec

/// A user name and token for the Golem registry.
public struct RegistryCredentials: Sendable, Equatable {
    public var username: String
    public var token: String
    public init(username: String, token: String) { self.username = username; self.token = token }
}

/// Where Golem registry credentials come from: the environment, else the file `gvmc login` writes.
public struct GolemCredentialStore: Sendable {
    /// The file: `$XDG_CONFIG_HOME/gvmc/golem-registry.json`, else `~/.config/gvmc/...`.
    public let path: String

    public init(path: String? = nil, environment: [String: String] = ProcessInfo.processInfo.environment) {
        if let path {
            self.path = path
        } else {
            let config =
                environment["XDG_CONFIG_HOME"].flatMap { $0.hasPrefix("/") ? $0 : nil }
                ?? (environment["HOME"] ?? NSHomeDirectory()) + "/.config"
            self.path = config + "/gvmc/golem-registry.json"
        }
    }

    /// The environment's credentials when both variables are set, else the stored ones for `registry`.
    public func resolve(
        registry: String, environment: [String: String] = ProcessInfo.processInfo.environment
    )
        throws(GolemRegistryError) -> (RegistryCredentials, source: String)?
    {
        if let user = environment["REGISTRY_USER"], let token = environment["REGISTRY_TOKEN"], !user.isEmpty, !token.isEmpty {
            return (RegistryCredentials(username: user, token: token), "REGISTRY_USER/REGISTRY_TOKEN")
        }
        return try load()[registry].map { ($0, path) }
    }

    public func load() throws(GolemRegistryError) -> [String: RegistryCredentials] {
        guard let data = FileManager.default.contents(atPath: path) else { return [:] }
        do {
            let entries = try JSONDocument.decode([String: StoredCredentials].self, from: Array(data), document: path)
            return entries.mapValues { RegistryCredentials(username: $0.username, token: $0.token) }
        } catch {
            throw .credentials("\(path): not a credentials file gvmc wrote (\(error.reason)); remove it and log in again")
        }
    }

    public func save(_ credentials: RegistryCredentials, registry: String) throws(GolemRegistryError) {
        var all = try load()
        all[registry] = credentials
        try write(all)
    }

    /// Removes `registry`'s credentials; false when there were none.
    public func remove(registry: String) throws(GolemRegistryError) -> Bool {
        var all = try load()
        guard all.removeValue(forKey: registry) != nil else { return false }
        try write(all)
        return true
    }

    /// Mode 0600 from the start (a temporary file created so, then renamed), in a 0700 directory.
    private func write(_ all: [String: RegistryCredentials]) throws(GolemRegistryError) {
        let directory = (path as NSString).deletingLastPathComponent
        do {
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700])
        } catch { throw .io(path: directory, operation: "create the directory", errno: EACCES) }
        // Keyed by registry URL: Foundation's key order (ports compared as numbers), as always.
        let data = JSONDocument.encodeInFoundationKeyOrder(
            all.mapValues { StoredCredentials(username: $0.username, token: $0.token) },
            options: [.prettyPrinted])
        let temporary = path + ".\(getpid()).tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw .io(path: temporary, operation: "create", errno: errno) }
        let written = data.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        let failure = written == data.count ? (fsync(fd) == 0 ? 0 : errno) : errno
        close(fd)
        guard failure == 0, rename(temporary, path) == 0 else {
            let e = failure != 0 ? failure : errno
            unlink(temporary)
            throw .io(path: path, operation: "write", errno: e)
        }
    }
}

/// One registry's entry in the credentials file.
struct StoredCredentials: Codable {
    var username: String
    var token: String
}
