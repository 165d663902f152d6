// The one HTTP transport of gvmc: a thin synchronous client over libcurl (loaded with dlopen),
// used by the OCI registry client, git over HTTP, ADD of URLs and the Golem registry client.
// One handle per client, so connections are reused; bodies either collected (bounded) or
// streamed to a callback.
import CDynamic
import Foundation

/// An HTTP response: status, headers, body and authentication challenges.
public struct HTTPResponse: Sendable {
    public var status: Int
    /// Header names lowercased; the last value wins (after redirects, the final response's).
    public var headers: [String: String]
    public var body: [UInt8]
    /// Every `WWW-Authenticate` value of the final response, in order (a server may offer
    /// several schemes, one per header).
    public var challenges: [String] = []
    public func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// One libcurl handle; not for concurrent use (give each thread its own client).
public final class HTTPClient {
    private let handle: UnsafeMutableRawPointer

    public init() throws(HTTPError) {
        var err = [CChar](repeating: 0, count: 256)
        guard gv_curl_load(&err, err.count) == 0 else {
            let text = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw HTTPError("libcurl is needed to talk to registries: \(text) (Debian: apt-get install libcurl4)")
        }
        guard let h = gv_http_new() else { throw HTTPError("curl_easy_init failed") }
        handle = h
    }

    deinit { gv_http_free(handle) }

    final class Sink {
        var headers: [String: String] = [:]
        var challenges: [String] = []
        var body: [UInt8] = []
        var limit: Int
        var overflow = false
        var stream: ((Int, UnsafeRawBufferPointer) -> Bool)?
        var streamFailed = false
        /// Status of the response being received (redirect hops reset it).
        var status = 0
        init(limit: Int, stream: ((Int, UnsafeRawBufferPointer) -> Bool)?) { self.limit = limit; self.stream = stream }
    }

    /// Performs one request, from byte `resumeFrom` of the body when it is not 0 (the stream
    /// sees 206, or 200 from a server that ignores Range). `stream` receives the status and body
    /// of 2xx responses (return false to abort);
    /// other bodies are collected up to `limit` bytes (error texts, JSON). `timeout` (seconds,
    /// 0 for none) bounds the whole exchange.
    public func perform(
        _ method: String, _ url: String, headers: [String], body: [UInt8] = [], resumeFrom: Int64 = 0,
        tlsVerify: Bool = true, limit: Int = 4 << 20,
        timeout: Int = 0, stream: ((Int, UnsafeRawBufferPointer) -> Bool)? = nil
    ) throws -> HTTPResponse {
        try body.withUnsafeBytes { bp in
            try perform(
                method, url, headers: headers, bodyBytes: bp, resumeFrom: resumeFrom, tlsVerify: tlsVerify, limit: limit,
                timeout: timeout, stream: stream)
        }
    }

    /// `perform` with a body the caller owns (a large upload buffer, sent without a copy).
    public func perform(
        _ method: String, _ url: String, headers: [String], bodyBytes bp: UnsafeRawBufferPointer, resumeFrom: Int64 = 0,
        tlsVerify: Bool = true, limit: Int = 4 << 20,
        timeout: Int = 0, stream: ((Int, UnsafeRawBufferPointer) -> Bool)? = nil
    ) throws -> HTTPResponse {
        let sink = Sink(limit: limit, stream: stream)
        // Range is asked for here rather than with libcurl's resume option: libcurl fails a
        // resumed transfer the server answers with 200 (the whole body), which the caller
        // handles by starting over.
        let headers = headers + (resumeFrom > 0 ? ["Range: bytes=\(resumeFrom)-"] : [])
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        var response = gv_http_response()
        let rc: Int32 = method.withCString { m in
            url.withCString { u in
                cHeaders.withUnsafeMutableBufferPointer { hp in
                    hp.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: hp.count) { hptr in
                        var req = gv_http_request()
                        req.method = m
                        req.url = u
                        req.headers = UnsafePointer(hptr)
                        req.header_count = Int32(hp.count)
                        req.body = bp.baseAddress
                        req.body_len = bp.count
                        req.resume_from = 0
                        req.tls_verify = tlsVerify ? 1 : 0
                        req.follow_redirects = 1
                        req.connect_timeout_s = 30
                        req.low_speed_time_s = DownloadLimit.stallSeconds
                        req.timeout_s = timeout
                        req.ctx = context
                        req.on_header = { ctx, data, len in
                            let s = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
                            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: len), as: UTF8.self)
                            if line.hasPrefix("HTTP/") {  // a new response (after a redirect or 100)
                                s.headers = [:]
                                s.challenges = []
                                let parts = line.split(separator: " ")
                                s.status = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
                                return len
                            }
                            if let colon = line.firstIndex(of: ":") {
                                let name = line[..<colon].lowercased()
                                let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                                s.headers[name] = value
                                if name == "www-authenticate" { s.challenges.append(value) }
                            }
                            return len
                        }
                        req.on_data = { ctx, data, len in
                            let s = Unmanaged<Sink>.fromOpaque(ctx!).takeUnretainedValue()
                            let chunk = UnsafeRawBufferPointer(start: data, count: len)
                            if let stream = s.stream, (200..<300).contains(s.status) {
                                if !stream(s.status, chunk) { s.streamFailed = true; return 0 }
                                return len
                            }
                            if s.body.count + len > s.limit { s.overflow = true; return 0 }
                            s.body.append(contentsOf: chunk)
                            return len
                        }
                        return gv_http_perform(handle, &req, &response)
                    }
                }
            }
        }
        let status = response.status
        if rc != 0 {
            if sink.streamFailed { throw StreamAborted() }
            if sink.overflow { throw HTTPError("\(url): response larger than \(limit) bytes") }
            let message = withUnsafeBytes(of: &response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw TransportError(code: response.curl_code, message: message)
        }
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body, challenges: sink.challenges)
    }
}

/// The streaming callback asked to stop (its own error is kept by the caller).
public struct StreamAborted: Error {}

/// An `Authorization` header value for HTTP basic authentication.
public func basicAuthorization(user: String, password: String) -> String {
    "Basic " + Data("\(user):\(password)".utf8).base64EncodedString()
}
