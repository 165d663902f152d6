// ADD of an http(s) URL: one file, retried on transport failures and 5xx/429.
import Foundation

/// `ADD https://...`: one file over HTTP(S) with retries on transport errors and 5xx/429.
public enum URLDownload {
    /// Writes the body of a 200 response into `fd`; returns the Last-Modified time (seconds since
    /// the epoch) when the server sent one. Only http and https URLs are accepted.
    public static func fetch(_ url: String, to fd: Int32, attempts: Int = 4) throws -> Int64? {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else {
            throw HTTPError("\(url): only http:// and https:// URLs can be downloaded")
        }
        let http = try HTTPClient()
        var attempt = 0
        while true {
            attempt += 1
            guard ftruncate(fd, 0) == 0, lseek(fd, 0, SEEK_SET) == 0 else { throw HTTPError("\(url): cannot reset the download file") }
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
                throw HTTPError(.status(url: url, status: r.status))
            } catch is StreamAborted {
                throw HTTPError("\(url): the download stopped: \(failure ?? "aborted")")
            } catch let e as TransportError {
                if e.isPermanent { throw HTTPError(.transport(url: url, cause: e, attempts: nil)) }
                if attempt < attempts { usleep(UInt32(250_000 << (attempt - 1))); continue }
                throw HTTPError(.transport(url: url, cause: e, attempts: attempt))
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
