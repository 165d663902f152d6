// Registry credentials: `--registry-auth HOST=USER:PASS` flags, the GVMC_REGISTRY_AUTH
// environment variable (same form, comma-separated, for CI), and Docker's config.json
// (`$DOCKER_CONFIG/config.json` or `~/.docker/config.json`, `auths` with base64 `auth` or
// username/password, and `identitytoken`).
import Foundation
import HTTPTransport
import ImageSpec

/// A registry login: user name and password, or an identity token.
public struct Credential: Sendable, Equatable {
    public var username: String
    public var password: String
    /// An OAuth2 refresh token (`identitytoken` in config.json) instead of a password.
    public var identityToken: String?
    public init(username: String, password: String, identityToken: String? = nil) {
        self.username = username; self.password = password; self.identityToken = identityToken
    }
    var basicHeader: String { basicAuthorization(user: username, password: password) }
}

/// Registry credentials by host, from flags, GVMC_REGISTRY_AUTH and Docker's config.json.
public struct CredentialStore: Sendable {
    var byHost: [String: Credential] = [:]

    public init() {}

    /// Docker's keys look like `https://index.docker.io/v1/`, `registry.example.com`,
    /// `http://localhost:5000`: reduced to the host[:port].
    static func hostKey(_ key: String) -> String {
        var k = Substring(key)
        if let r = k.range(of: "://") { k = k[r.upperBound...] }
        if let slash = k.firstIndex(of: "/") { k = k[..<slash] }
        let host = String(k).lowercased()
        return host == "index.docker.io" || host == "registry-1.docker.io" ? "docker.io" : host
    }

    public mutating func add(host: String, _ credential: Credential) { byHost[CredentialStore.hostKey(host)] = credential }

    public func credential(for registry: String) -> Credential? { byHost[CredentialStore.hostKey(registry)] }

    /// `HOST=USER:PASS`.
    public mutating func addFlag(_ text: String) throws(RegistryError) {
        guard let eq = text.firstIndex(of: "="), let colon = text[text.index(after: eq)...].firstIndex(of: ":") else {
            throw RegistryError("invalid --registry-auth \"\(text.prefix { $0 != ":" })...\": expected HOST=USER:PASSWORD")
        }
        let host = String(text[..<eq])
        add(
            host: host,
            Credential(username: String(text[text.index(after: eq)..<colon]), password: String(text[text.index(after: colon)...])))
    }

    /// Reads Docker's config.json; a missing file is fine, a malformed one is an error.
    public mutating func loadDockerConfig(environment: [String: String]) throws(RegistryError) {
        let dir = environment["DOCKER_CONFIG"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.docker")
        let path = dir + "/config.json"
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let file: DockerConfigFile
        do { file = try JSONDocument.decode(DockerConfigFile.self, from: Array(data), document: path) } catch {
            throw RegistryError(nil, cause: error)
        }
        for (key, entry) in file.auths ?? [:] {
            var user = entry.username
            var pass = entry.password
            if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                    let colon = decoded.firstIndex(of: ":")
                else {
                    throw RegistryError("\(path): auths.\(key).auth is not base64 of USER:PASSWORD")
                }
                user = String(decoded[..<colon])
                pass = String(decoded[decoded.index(after: colon)...])
            }
            let token = entry.identitytoken.flatMap { $0.isEmpty ? nil : $0 }
            if let user, let pass {
                add(host: key, Credential(username: user, password: pass, identityToken: token))
            } else if let token {
                add(host: key, Credential(username: "<token>", password: "", identityToken: token))
            }
        }
    }

    /// Flags, then the environment, then config.json (the first source that names a host wins).
    public static func standard(flags: [String], environment: [String: String]) throws(RegistryError) -> CredentialStore {
        var fromConfig = CredentialStore()
        try fromConfig.loadDockerConfig(environment: environment)
        var store = fromConfig
        for item in (environment["GVMC_REGISTRY_AUTH"] ?? "").split(separator: ",") { try store.addFlag(String(item)) }
        for flag in flags { try store.addFlag(flag) }
        return store
    }
}

/// Docker's config.json, the part gvmc reads (credsStore and credHelpers are not followed).
struct DockerConfigFile: Decodable {
    /// One registry's entry: `auth` (base64 of USER:PASSWORD), or username and password, or an
    /// identity token.
    struct Auth: Decodable {
        var auth: String?
        var username: String?
        var password: String?
        var identitytoken: String?
    }
    var auths: [String: Auth]?
}

/// A `WWW-Authenticate` challenge: scheme and parameters (RFC 7235 auth-params).
struct Challenge: Equatable {
    var scheme: String
    var parameters: [String: String]

    init?(_ header: String) {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            guard !trimmed.isEmpty else { return nil }
            scheme = trimmed.lowercased(); parameters = [:]; return
        }
        scheme = trimmed[..<space].lowercased()
        parameters = [:]
        var rest = trimmed[trimmed.index(after: space)...]
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let eq = rest.firstIndex(of: "=") else { break }
            let key = rest[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: eq)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(c); escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        break
                    } else {
                        value.append(c)
                    }
                }
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            parameters[key] = value
        }
    }
}
