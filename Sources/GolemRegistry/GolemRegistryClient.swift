// The Golem registry's HTTP API as gvmkit-build and the requestor SDKs use it (GOLEM.md §2.6,
// §9.1): login check, descriptor status and upload, tag attach, chunk upload, image info. Every
// request is retried on connection failures, timeouts, 429 and 5xx, with backoff.
import Foundation
import HTTPTransport
import ImageSpec

/// How often and how patiently a request is retried.
public struct RetryPolicy: Sendable {
    /// Tries per request, the first included.
    public var attempts = 6
    /// Seconds before the first retry; doubled for each further one, at most `maximumDelay`.
    public var initialDelay = 0.5
    public var maximumDelay = 8.0
    public init() {}

    func delay(after attempt: Int) -> Double { min(maximumDelay, initialDelay * Double(1 << min(attempt - 1, 20))) }
}

/// What `GET /v1/image/descr/<id>` says about an image.
public struct DescriptorStatus: Sendable, Equatable {
    public var isComplete: Bool
    /// 1 for each chunk the registry has.
    public var chunks: [Int]
}

/// What `GET /v1/image/info` resolves a tag or hash to.
public struct ImageInfo: Sendable, Equatable {
    public var sha3: String
    public var url: String
    public var size: UInt64?
}

/// One connection to a registry; not for concurrent use (each upload worker has its own).
public final class GolemRegistryClient {
    /// The base URL, without a trailing `/`.
    public let registry: String
    public var retry: RetryPolicy
    /// Retries and other notes for the user.
    public var log: (String) -> Void = { _ in }
    let http: HTTPClient
    /// A token to keep out of error messages (a server may echo what it was sent).
    var secret: String?

    public init(registry: String, retry: RetryPolicy = RetryPolicy()) throws(GolemRegistryError) {
        var base = registry
        while base.hasSuffix("/") { base.removeLast() }
        guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
            throw .unreachable(url: registry, reason: "a registry URL starts with https:// or http://", attempts: 0)
        }
        self.registry = base
        self.retry = retry
        do { http = try HTTPClient() } catch { throw .unreachable(url: base, reason: error.message, attempts: 0) }
    }

    /// One request; transport failures, 429 and 5xx are retried, other answers returned.
    func send(
        _ method: String, _ path: String, headers: [String] = [], body: [UInt8] = [], limit: Int = 1 << 20,
        timeout: Int = 0
    ) throws(GolemRegistryError) -> HTTPResponse {
        let result: Result<HTTPResponse, GolemRegistryError> = body.withUnsafeBytes { bytes in
            do throws(GolemRegistryError) {
                return .success(try send(method, path, headers: headers, body: bytes, limit: limit, timeout: timeout))
            } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// `send` with a body the caller owns (an upload buffer).
    func send(
        _ method: String, _ path: String, headers: [String] = [], body: UnsafeRawBufferPointer, limit: Int = 1 << 20,
        timeout: Int = 0
    ) throws(GolemRegistryError) -> HTTPResponse {
        let url = registry + path
        var attempt = 0
        while true {
            attempt += 1
            let problem: String
            do {
                let response = try http.perform(
                    method, url, headers: headers + ["Expect:"], bodyBytes: body, limit: limit, timeout: timeout)
                guard response.status == 429 || response.status >= 500 else { return response }
                if attempt >= retry.attempts {
                    throw GolemRegistryError.unexpectedStatus(url: url, status: response.status, message: message(response))
                }
                problem = "HTTP \(response.status)"
            } catch let e as TransportError {
                if e.isPermanent || attempt >= retry.attempts { throw .unreachable(url: url, reason: e.message, attempts: attempt) }
                problem = e.message
            } catch let e as GolemRegistryError {
                throw e
            } catch {
                throw .unreachable(url: url, reason: "\(error)", attempts: attempt)
            }
            let delay = retry.delay(after: attempt)
            log("\(url): \(problem); retrying in \(String(format: "%.1f", delay)) s (\(attempt)/\(retry.attempts - 1))")
            usleep(UInt32(delay * 1_000_000))
        }
    }

    /// The start of a response's body as text, for an error message, without the token.
    func message(_ response: HTTPResponse) -> String {
        var text = String(decoding: response.body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        if let secret, !secret.isEmpty { text = text.replacingOccurrences(of: secret, with: "<token>") }
        return text
    }

    /// `POST /auth/pat/login`: throws `loginRejected` when the registry refuses the token.
    public func checkLogin(_ credentials: RegistryCredentials) throws(GolemRegistryError) {
        secret = credentials.token
        let json = JSONDocument.encode(LoginRequest(username: credentials.username, password: credentials.token), formatting: [.sortedKeys])
        let r = try send("POST", "/auth/pat/login", headers: ["Content-Type: application/json"], body: json)
        switch r.status {
        case 200: return
        case 401, 403: throw .loginRejected(user: credentials.username, registry: registry, message: message(r))
        default: throw .unexpectedStatus(url: registry + "/auth/pat/login", status: r.status, message: message(r))
        }
    }

    /// `GET /v1/image/descr/<id>`; nil when the registry does not know the descriptor.
    public func status(of id: String) throws(GolemRegistryError) -> DescriptorStatus? {
        let url = registry + "/v1/image/descr/\(id)"
        let r = try send("GET", "/v1/image/descr/\(id)")
        let reply: DescriptorReply
        do { reply = try JSONDocument.decode(DescriptorReply.self, from: r.body, document: url) } catch {
            // Not a JSON object (an error page): unknown on a 404, else unexpected. A field of the
            // wrong type is named.
            guard error.field.isEmpty else { throw .malformedReply(error) }
            if r.status == 404 { return nil }
            throw .unexpectedStatus(url: url, status: r.status, message: message(r))
        }
        guard reply.descriptor == "ok" else { return nil }
        return DescriptorStatus(isComplete: reply.status == "full", chunks: reply.chunks ?? [])
    }

    /// `POST /v1/image/push/descr`.
    public func upload(descriptor: ImageDescriptor) throws(GolemRegistryError) {
        let form = MultipartForm()
        let r = try send(
            "POST", "/v1/image/push/descr", headers: [form.contentType],
            body: form.body(file: descriptor.bytes, filename: "descriptor.txt"))
        guard (200..<300).contains(r.status) else {
            throw .unexpectedStatus(url: registry + "/v1/image/push/descr", status: r.status, message: message(r))
        }
    }

    /// `POST /v1/image/descr/attach/<id>`: binds `name` to the image, or with `check` only asks
    /// whether it could (before an upload).
    public func attach(id: String, name: GolemImageName, credentials: RegistryCredentials, check: Bool) throws(GolemRegistryError) {
        secret = credentials.token
        var form = MultipartForm()
        form.fields = [
            ("tag", name.tag), ("username", name.user ?? credentials.username), ("repository", name.repository),
            ("login", credentials.username), ("token", credentials.token)
        ]
        if check { form.fields.append(("check", "true")) }
        let r = try send("POST", "/v1/image/descr/attach/\(id)", headers: [form.contentType], body: form.body)
        switch r.status {
        case 200: return
        case 401: throw .loginRejected(user: credentials.username, registry: registry, message: message(r))
        default: throw .attachRejected(name: name.description, registry: registry, status: r.status, message: message(r))
        }
    }

    /// `GET /v1/image/info?tag=` or `?hash=`; `count` lets the registry count a download
    /// (`dev=true` otherwise, as the SDKs' dev mode does).
    public func info(tag: String? = nil, hash: String? = nil, count: Bool) throws(GolemRegistryError) -> ImageInfo {
        var query = URLComponents()
        query.queryItems =
            [URLQueryItem(name: count ? "count" : "dev", value: "true")]
            + (tag.map { [URLQueryItem(name: "tag", value: $0)] } ?? []) + (hash.map { [URLQueryItem(name: "hash", value: $0)] } ?? [])
        // `+` and `:` stay literal in URLComponents' query; a tag's `/` and `:` are fine in a query.
        let path = "/v1/image/info?" + (query.percentEncodedQuery ?? "").replacingOccurrences(of: "+", with: "%2B")
        let r = try send("GET", path)
        if r.status == 404 { throw .notFound(what: tag.map { "tagged \($0)" } ?? "with hash \(hash ?? "")", registry: registry) }
        guard r.status == 200 else { throw .unexpectedStatus(url: registry + path, status: r.status, message: message(r)) }
        let reply: ImageInfoReply
        do { reply = try JSONDocument.decode(ImageInfoReply.self, from: r.body, document: registry + path) } catch {
            guard error.field.isEmpty else { throw .malformedReply(error) }
            throw .unexpectedStatus(url: registry + path, status: r.status, message: message(r))
        }
        // The http link, as yapapi's resolve_package_url gives providers by default.
        guard let sha3 = reply.sha3, let url = reply.http ?? reply.https else {
            throw .unexpectedStatus(url: registry + path, status: r.status, message: message(r))
        }
        return ImageInfo(sha3: sha3.lowercased(), url: url, size: reply.size)
    }
}
