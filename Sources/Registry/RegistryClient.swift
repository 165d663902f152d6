// The OCI distribution protocol for one repository: endpoint and scheme selection (HTTPS, or
// plain HTTP only for localhost and --insecure-registry hosts), bearer-token and basic auth from
// `WWW-Authenticate` challenges, retries with backoff on 429/5xx/transport errors, manifests
// with digest checks, and blob downloads that resume with `Range` after an interruption.
// Pushes (uploads, mounts, manifests) are in RegistryClient+Push.swift.
import Foundation
import HTTPTransport
import ImageSpec
import SquashFS

/// How registries are reached: credentials, insecure hosts, retries, logging and progress callbacks.
public struct RegistryOptions: Sendable {
    public var credentials = CredentialStore()
    /// Hosts (host[:port]) where plain HTTP and unverified TLS are allowed; localhost always is.
    public var insecureRegistries: Set<String> = []
    public var maxAttempts = 5
    /// First retry delay in seconds; doubles per attempt.
    public var backoff = 0.25
    public var log: @Sendable (String) -> Void = { _ in }
    /// A layer blob was downloaded (digest, bytes, seconds), for progress displays.
    public var layerPulled: @Sendable (String, Int64, Double) -> Void = { _, _, _ in }
    /// A blob download's progress (digest, bytes so far, size), as the bytes arrive.
    public var blobProgress: @Sendable (String, Int64, Int64) -> Void = { _, _, _ in }
    public init() {}
}

final class RegistryClient {
    let reference: ImageReference
    let options: RegistryOptions
    let http: HTTPClient
    let host: String
    let insecure: Bool
    /// Decided on first contact: "https" or (insecure hosts only) "http".
    var scheme: String?
    var authorization: String?

    init(reference: ImageReference, options: RegistryOptions) throws(RegistryError) {
        self.reference = reference
        self.options = options
        do { http = try HTTPClient() } catch { throw RegistryError(nil, cause: error) }
        host = reference.registry == ImageReference.defaultRegistry ? "registry-1.docker.io" : reference.registry
        insecure = reference.isLocalhost || options.insecureRegistries.contains(reference.registry)
    }

    var repositoryURL: String { "\(scheme ?? "https")://\(host)/v2/\(reference.repository)" }

    /// One request with auth and retries: 2xx responses and the statuses in `expected` are
    /// returned, others thrown after up to `attempts` tries (429/5xx and transport errors are
    /// retried with backoff). `path` is below the repository URL, or a whole URL (an upload's
    /// Location). `body` is sent again on each try. `stream` gets 2xx bodies; `prepare` runs
    /// before each attempt and returns the Range start (for resumable downloads).
    func request(
        _ path: String, method: String = "GET", accept: [String] = [], headers extra: [String] = [],
        body: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0), expected: Set<Int> = [],
        attempts: Int? = nil, limit: Int = 4 << 20, prepare: () throws -> Int64 = { 0 },
        stream: ((Int, UnsafeRawBufferPointer) -> Bool)? = nil
    ) throws -> HTTPResponse {
        let maxAttempts = attempts ?? options.maxAttempts
        var attempt = 0
        var authTried = false
        while true {
            attempt += 1
            if scheme == nil { try chooseScheme() }
            var headers = accept.isEmpty ? [] : ["Accept: " + accept.joined(separator: ", ")]
            let url = path.hasPrefix("http://") || path.hasPrefix("https://") ? path : repositoryURL + path
            // An upload's query (its session state) is no one's business in an error message.
            let shown = String(url.prefix { $0 != "?" })
            // Credentials go to the registry only: an upload Location elsewhere gets none, and
            // plain HTTP only where the registry itself may be plain.
            let sameOrigin = url.hasPrefix("\(scheme ?? "https")://\(host)/")
            if !sameOrigin && url.hasPrefix("http://") && !insecure {
                throw RegistryError(
                    "\(shown): the registry \(reference.registry) sent a plain-HTTP location; refused (--insecure-registry allows it)")
            }
            if let authorization, sameOrigin { headers.append("Authorization: " + authorization) }
            headers += extra
            let resume = try prepare()
            let response: HTTPResponse
            do {
                response = try http.perform(
                    method, url, headers: headers, bodyBytes: body, resumeFrom: resume, tlsVerify: !insecure,
                    limit: limit, stream: stream)
            } catch let e as TransportError {
                if let hint = e.tlsHint(registry: reference.registry) {
                    throw RegistryError(.transport(subject: shown, cause: e, attempts: nil, hint: hint))
                }
                if attempt < maxAttempts {
                    options.log("\(reference.registry): \(e.message); retrying (\(attempt)/\(maxAttempts - 1))")
                    sleep(seconds: options.backoff * Double(1 << (attempt - 1)))
                    continue
                }
                throw RegistryError(.transport(subject: shown, cause: e, attempts: attempt, hint: nil))
            }
            if expected.contains(response.status) { return response }
            switch response.status {
            case 200..<300:
                return response
            case 401 where !authTried:
                authTried = true
                try authenticate(response, url: shown)
                attempt -= 1
                continue
            case 401, 403:
                throw RegistryError(
                    .authFailed(url: shown, status: response.status, reply: registryReply(response), registry: reference.registry))
            case 429, 500..<600:
                if attempt < maxAttempts {
                    let retryAfter = response.header("Retry-After").flatMap(Double.init).map { min($0, 30) }
                    options.log("\(reference.registry): HTTP \(response.status); retrying (\(attempt)/\(maxAttempts - 1))")
                    sleep(seconds: retryAfter ?? options.backoff * Double(1 << (attempt - 1)))
                    continue
                }
                throw RegistryError(.status(url: shown, status: response.status, reply: registryReply(response), attempts: attempt))
            default:
                throw RegistryError(.status(url: shown, status: response.status, reply: registryReply(response), attempts: nil))
            }
        }
    }

    func sleep(seconds: Double) { usleep(UInt32(max(0, min(seconds, 60)) * 1_000_000)) }

    /// The registry's own error (`{"errors":[{"code","message"}]}`), if any: it only adds to a
    /// message, so a body of another shape adds nothing.
    func registryReply(_ r: HTTPResponse) -> RegistryError.Reply? {
        guard let reply = try? JSONDocument.decode(RegistryErrorReply.self, from: r.body, document: "error"),
            let first = reply.errors.first
        else { return nil }
        return RegistryError.Reply(code: first.code, message: first.message)
    }

    /// `registryReply` as appended to a message: `: CODE message`, or nothing.
    func registryMessage(_ r: HTTPResponse) -> String { registryReply(r)?.suffix ?? "" }

    /// HTTPS first; plain HTTP only for insecure hosts whose HTTPS does not answer (as Docker).
    func chooseScheme() throws {
        guard insecure else { scheme = "https"; return }
        do {
            _ = try http.perform("GET", "https://\(host)/v2/", headers: [], tlsVerify: false, limit: 1 << 16)
            scheme = "https"
        } catch is TransportError {
            scheme = "http"
        }
    }

    /// Answers a 401 challenge: Basic with the stored credential, or a Bearer token from the
    /// realm (anonymously, or with basic credentials / a refresh token). Of several challenges
    /// the Bearer one is taken, else Basic, else the first (refused by name).
    func authenticate(_ response: HTTPResponse, url: String) throws {
        let offered = response.challenges.compactMap { header in Challenge(header).map { (header, $0) } }
        guard
            let (header, challenge) = offered.first(where: { $0.1.scheme == "bearer" }) ?? offered.first(where: { $0.1.scheme == "basic" })
                ?? offered.first
        else {
            throw RegistryError("\(url): HTTP 401 without a WWW-Authenticate challenge")
        }
        let credential = options.credentials.credential(for: reference.registry)
        switch challenge.scheme {
        case "basic":
            guard let credential else {
                throw RegistryError(
                    "\(url): the registry requires a username and password; give them with "
                        + "--registry-auth \(reference.registry)=USER:PASSWORD, GVMC_REGISTRY_AUTH or ~/.docker/config.json")
            }
            authorization = credential.basicHeader
        case "bearer":
            guard let realm = challenge.parameters["realm"], realm.hasPrefix("http://") || realm.hasPrefix("https://") else {
                throw RegistryError("\(url): bearer challenge without a usable realm: \(header)")
            }
            var query: [String] = []
            if let service = challenge.parameters["service"] { query.append("service=" + percentEncode(service)) }
            // A push that mounts from another repository is challenged for two scopes, space-separated;
            // token servers take them as one `scope` parameter each.
            let scope = challenge.parameters["scope"] ?? "repository:\(reference.repository):pull"
            for one in scope.split(separator: " ") { query.append("scope=" + percentEncode(String(one))) }
            var headers: [String] = []
            if let credential, credential.identityToken == nil { headers.append("Authorization: " + credential.basicHeader) }
            let tokenURL = realm + (realm.contains("?") ? "&" : "?") + query.joined(separator: "&")
            let reply: HTTPResponse
            do {
                if let token = credential?.identityToken {
                    let form =
                        "grant_type=refresh_token&client_id=gvmc&refresh_token=\(percentEncode(token))&"
                        + query.joined(separator: "&")
                    reply = try http.perform(
                        "POST", realm, headers: ["Content-Type: application/x-www-form-urlencoded"],
                        body: Array(form.utf8), tlsVerify: !insecure, limit: 1 << 20)
                } else {
                    reply = try http.perform("GET", tokenURL, headers: headers, tlsVerify: !insecure, limit: 1 << 20)
                }
            } catch let e as TransportError {
                throw RegistryError(.transport(subject: "token server \(realm)", cause: e, attempts: nil, hint: nil))
            }
            guard reply.status == 200 else {
                var why = ""
                if reply.status == 401 || reply.status == 403 {
                    why =
                        credential == nil
                        ? ": the registry requires a username and password; give them with --registry-auth \(reference.registry)=USER:PASSWORD, GVMC_REGISTRY_AUTH or ~/.docker/config.json"
                        : " (wrong credentials or an expired identity token?)"
                }
                throw RegistryError("token server \(realm): HTTP \(reply.status)\(why)")
            }
            let answer: TokenReply
            do { answer = try JSONDocument.decode(TokenReply.self, from: reply.body, document: "token server \(realm)") } catch {
                throw RegistryError(
                    error.field.isEmpty ? "token server \(realm): the reply has no token (\(error.reason))" : error.description)
            }
            guard let token = answer.token ?? answer.accessToken, !token.isEmpty else {
                throw RegistryError("token server \(realm): the reply has no token")
            }
            authorization = "Bearer " + token
        default:
            throw RegistryError("\(url): unsupported authentication scheme \"\(challenge.scheme)\"")
        }
    }

    func percentEncode(_ s: String) -> String {
        s.addingPercentEncoding(
            withAllowedCharacters: CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~")) ?? s
    }

    /// A manifest or index by tag or digest; its digest is checked against the reference's
    /// digest or the registry's `Docker-Content-Digest`.
    func manifest(_ reference: String) throws -> (bytes: [UInt8], mediaType: String, digest: String) {
        try checkedManifest(
            try request("/manifests/\(reference)", accept: MediaType.accepted + [MediaType.dockerSchema1Signed]),
            reference: reference)
    }

    /// `manifest`, or nil when the registry answers 404 (no such tag, manifest or repository).
    func manifestIfPresent(_ reference: String) throws -> (bytes: [UInt8], mediaType: String, digest: String)? {
        let response = try request(
            "/manifests/\(reference)", accept: MediaType.accepted + [MediaType.dockerSchema1Signed],
            expected: [404])
        return response.status == 404 ? nil : try checkedManifest(response, reference: reference)
    }

    private func checkedManifest(_ response: HTTPResponse, reference: String) throws -> (bytes: [UInt8], mediaType: String, digest: String)
    {
        let digest = sha256Digest(response.body)
        if reference.hasPrefix("sha256:") {
            guard digest == reference else {
                throw RegistryError(
                    .digestMismatch(
                        subject: "\(self.reference.registry)/\(self.reference.repository)@\(reference)", check: .manifest,
                        expected: reference, actual: digest))
            }
        } else if let claimed = response.header("Docker-Content-Digest"), claimed.hasPrefix("sha256:"), claimed != digest {
            throw RegistryError(
                .digestMismatch(
                    subject: "\(self.reference.registry)/\(self.reference.repository):\(reference)", check: .contentDigestHeader,
                    expected: claimed, actual: digest))
        }
        var type = response.header("Content-Type")?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
        if let t = ManifestDocument.declaredMediaType(response.body) { type = t }
        return (response.body, type, digest)
    }

    /// Downloads a blob into `fd` (a temporary file the caller renames only after success),
    /// resuming with Range after a dropped connection; size and digest are checked.
    func blob(_ descriptor: Descriptor, to fd: Int32) throws {
        var hasher = SHA256()
        var written: Int64 = 0
        var attemptStart: Int64 = 0
        var firstChunk = true
        var failure: String?
        func blobAttempt() throws {
            do {
                _ = try request(
                    "/blobs/\(descriptor.digest)",
                    prepare: {
                        attemptStart = written
                        firstChunk = true
                        return written
                    },
                    stream: { status, chunk in
                        if firstChunk {
                            firstChunk = false
                            if status != 206 && attemptStart > 0 {
                                // The server ignored Range and sends the whole blob: start over.
                                hasher = SHA256(); written = 0; _ = ftruncate(fd, 0)
                            }
                        }
                        if written + Int64(chunk.count) > descriptor.size {
                            failure = "the registry sent more than the \(descriptor.size) bytes the manifest declares"
                            return false
                        }
                        var off = 0
                        while off < chunk.count {
                            let n = pwrite(fd, chunk.baseAddress! + off, chunk.count - off, off_t(written) + off_t(off))
                            if n < 0 {
                                if errno == EINTR { continue }
                                failure = "writing to the cache failed: \(String(cString: strerror(errno)))"
                                return false
                            }
                            off += n
                        }
                        hasher.update(chunk)
                        written += Int64(chunk.count)
                        self.options.blobProgress(descriptor.digest, written, descriptor.size)
                        return true
                    })
            } catch is StreamAborted {
                throw RegistryError("blob \(descriptor.digest): \(failure ?? "download aborted")")
            }
        }
        // A body cut short with a Content-Length that agrees with it ends without a transport
        // error: what is missing is asked for again with Range.
        for attempt in 1...max(1, options.maxAttempts) where attempt == 1 || written < descriptor.size {
            if attempt > 1 {
                options.log("\(reference.registry): blob \(descriptor.digest): got \(written) of \(descriptor.size) bytes; resuming")
            }
            try blobAttempt()
        }
        guard written == descriptor.size else {
            throw RegistryError("blob \(descriptor.digest): got \(written) of the \(descriptor.size) bytes the manifest declares")
        }
        let digest = "sha256:" + hasher.finalize().hexString
        guard digest == descriptor.digest else {
            throw RegistryError(
                .digestMismatch(subject: "blob \(descriptor.digest)", check: .blob, expected: descriptor.digest, actual: digest))
        }
    }
}
