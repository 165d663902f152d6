// A thin synchronous HTTP client over libcurl (loaded with dlopen): one handle per client, so
// connections are reused; bodies either collected (bounded) or streamed to a callback.
import CDynamic
import Foundation

public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

struct HTTPResponse {
    var status: Int
    /// Header names lowercased; the last value wins (after redirects, the final response's).
    var headers: [String: String]
    var body: [UInt8]
    /// Every `WWW-Authenticate` value of the final response, in order (a server may offer
    /// several schemes, one per header).
    var challenges: [String] = []
    func header(_ name: String) -> String? { headers[name.lowercased()] }
}

/// A transport failure (no HTTP status): connection refused, reset, TLS, timeout.
struct TransportError: Error, CustomStringConvertible {
    var description: String { message }
    var code: Int32
    var message: String

    /// TLS failures that no retry mends: the peer's certificate is not trusted (certificate
    /// problem, cipher, verification, CA file, issuer, pinning, status), or an HTTPS request was
    /// answered in plain HTTP. Every retry loop stops on these.
    var isPermanent: Bool {
        switch code {
        case 58, 59, 60, 77, 83, 90, 91: return true
        case 35: return message.contains("wrong version number")
        default: return false
        }
    }

    /// For a permanent failure talking to a registry: what the user can do; nil for the others.
    func tlsHint(registry: String) -> String? {
        guard isPermanent else { return nil }
        if code == 35 { return "the registry answers plain HTTP, not HTTPS: pass --insecure-registry \(registry) to allow plain HTTP" }
        return "the registry's certificate is not trusted: add its CA to the system's store, or pass "
            + "--insecure-registry \(registry) to skip verification"
    }
}

final class HTTPClient {
    private let handle: UnsafeMutableRawPointer

    init() throws(RegistryError) {
        var err = [CChar](repeating: 0, count: 256)
        guard gv_curl_load(&err, err.count) == 0 else {
            let text = String(decoding: err.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw RegistryError("libcurl is needed to talk to registries: \(text) (Debian: apt-get install libcurl4)")
        }
        guard let h = gv_http_new() else { throw RegistryError("curl_easy_init failed") }
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
    /// other bodies are collected up to `limit` bytes (error texts, JSON).
    func perform(_ method: String, _ url: String, headers: [String], body: [UInt8] = [], resumeFrom: Int64 = 0,
                 tlsVerify: Bool = true, limit: Int = 4 << 20,
                 stream: ((Int, UnsafeRawBufferPointer) -> Bool)? = nil) throws -> HTTPResponse {
        let sink = Sink(limit: limit, stream: stream)
        // Range is asked for here rather than with libcurl's resume option: libcurl fails a
        // resumed transfer the server answers with 200 (the whole body), which the caller
        // handles by starting over.
        let headers = headers + (resumeFrom > 0 ? ["Range: bytes=\(resumeFrom)-"] : [])
        let context = Unmanaged.passUnretained(sink).toOpaque()
        var cHeaders = headers.map { strdup($0) }
        defer { cHeaders.forEach { free($0) } }
        var response = gv_http_response()
        let rc: Int32 = method.withCString { m in url.withCString { u in
            cHeaders.withUnsafeMutableBufferPointer { hp in
                body.withUnsafeBytes { bp in
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
        } }
        let status = response.status
        if rc != 0 {
            if sink.streamFailed { throw StreamAborted() }
            if sink.overflow { throw RegistryError("\(url): response larger than \(limit) bytes") }
            let message = withUnsafeBytes(of: &response.error) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            throw TransportError(code: response.curl_code, message: message)
        }
        return HTTPResponse(status: status, headers: sink.headers, body: sink.body, challenges: sink.challenges)
    }
}

/// The streaming callback asked to stop (its own error is kept by the caller).
struct StreamAborted: Error {}

/// What one download (ADD's file, a git pack) may write, so an endless body ends in an error
/// rather than a full disk: at most GVMC_MAX_DOWNLOAD bytes (default 64 GiB), and never the
/// last 256 MiB of the filesystem it lands on. A stalled transfer ends too: after
/// GVMC_STALL_SECONDS (default 60) below 1 KiB/s over HTTP (libcurl's low-speed limit) or
/// without a packet over SSH.
public enum DownloadLimit {
    /// A test's limits instead of the environment's.
    @TaskLocal static var override: Int64?
    @TaskLocal static var stallOverride: Int?
    static let reserve: Int64 = 256 << 20

    static var stallSeconds: Int {
        stallOverride ?? ProcessInfo.processInfo.environment["GVMC_STALL_SECONDS"].flatMap { Int($0) }.map { max(1, $0) } ?? 60
    }

    static var maximum: Int64 {
        override ?? ProcessInfo.processInfo.environment["GVMC_MAX_DOWNLOAD"].flatMap { Int64($0) } ?? (64 << 30)
    }

    /// Counts the bytes written to `fd` and says, once they pass the limit, why they must stop.
    struct Meter {
        let maximum = DownloadLimit.maximum
        var total: Int64 = 0
        var nextCheck: Int64 = 0

        mutating func add(_ count: Int, fd: Int32) -> String? {
            total += Int64(count)
            if total > maximum {
                return "more than \(maximum) bytes (the limit; GVMC_MAX_DOWNLOAD sets another)"
            }
            guard total >= nextCheck else { return nil }
            var fs = statvfs()
            if fstatvfs(fd, &fs) == 0 {
                let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
                if free < DownloadLimit.reserve { return "the filesystem it is written to has only \(free) bytes free" }
                nextCheck = total + min(64 << 20, (free - DownloadLimit.reserve) / 2)
            }
            return nil
        }
    }
}

/// `ADD https://...`: one file over HTTP(S) with retries on transport errors and 5xx/429.
public enum URLDownload {
    /// Writes the body of a 200 response into `fd`; returns the Last-Modified time (seconds since
    /// the epoch) when the server sent one. Only http and https URLs are accepted.
    public static func fetch(_ url: String, to fd: Int32, attempts: Int = 4) throws -> Int64? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw RegistryError("\(url): only http:// and https:// URLs can be downloaded")
        }
        let http = try HTTPClient()
        var attempt = 0
        while true {
            attempt += 1
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw RegistryError("\(url): cannot reset the download file") }
            var written: Int64 = 0
            var failure: String?
            var meter = DownloadLimit.Meter()
            do {
                let r = try http.perform("GET", url, headers: [], limit: 1 << 20) { _, chunk in
                    if let over = meter.add(chunk.count, fd: fd) { failure = over; return false }
                    var off = 0
                    while off < chunk.count {
                        let n = pwrite(fd, chunk.baseAddress! + off, chunk.count - off, off_t(written) + off_t(off))
                        if n < 0 { if errno == EINTR { continue }; failure = String(cString: strerror(errno)); return false }
                        off += n
                    }
                    written += Int64(chunk.count)
                    return true
                }
                if r.status == 200 { return r.header("Last-Modified").flatMap(httpDate) }
                if (r.status == 429 || r.status >= 500) && attempt < attempts { usleep(UInt32(250_000 << (attempt - 1))); continue }
                throw RegistryError("\(url): HTTP \(r.status)")
            } catch is StreamAborted {
                throw RegistryError("\(url): the download stopped: \(failure ?? "aborted")")
            } catch let e as TransportError {
                if e.isPermanent { throw RegistryError("\(url): \(e.message)") }
                if attempt < attempts { usleep(UInt32(250_000 << (attempt - 1))); continue }
                throw RegistryError("\(url): \(e.message) (after \(attempt) attempts)")
            }
        }
    }

    /// RFC 7231 IMF-fixdate, e.g. `Wed, 21 Oct 2015 07:28:00 GMT`.
    static func httpDate(_ text: String) -> Int64? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return f.date(from: text).map { Int64($0.timeIntervalSince1970) }
    }
}
