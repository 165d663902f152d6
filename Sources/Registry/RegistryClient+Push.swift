// The writing half of the OCI distribution protocol: blob existence checks, cross-repository
// mounts, uploads (one PUT, or PATCH chunks that survive a dropped connection by asking the
// upload's status or starting a new session) and manifest pushes.
import Foundation
import HTTPTransport
import ImageSpec

extension RegistryClient {
    /// Files up to this size go in one PUT; larger ones in PATCH chunks of this size.
    static let uploadChunkSize = 32 << 20

    /// HEAD of a blob: present, and of `size` bytes when the registry says how many.
    func hasBlob(_ digest: String, size: Int64) throws -> Bool {
        let response = try request("/blobs/\(digest)", method: "HEAD", expected: [404])
        guard response.status != 404 else { return false }
        if let length = response.header("Content-Length").flatMap(Int64.init) { return length == size }
        return true
    }

    /// Uploads `file` as blob `digest` unless the registry has it or can mount it from
    /// `mountFrom`; true when bytes were sent.
    func pushBlob(_ file: MappedFile, digest: String, mountFrom: String?) throws -> Bool {
        if try hasBlob(digest, size: Int64(file.size)) { return false }
        var session: String?
        if let mountFrom, mountFrom != reference.repository {
            session = try mount(digest, from: mountFrom)
            if session == nil { return false }
        }
        try upload(file, digest: digest, session: session ?? startUpload())
        return true
    }

    /// POST ?mount=&from=: nil when the registry mounted the blob (201), else the upload session
    /// it opened instead (202). A refused mount (no access to `from`) falls back to a new session.
    private func mount(_ digest: String, from: String) throws -> String? {
        let response: HTTPResponse
        do {
            response = try request("/blobs/uploads/?mount=\(percentEncode(digest))&from=\(percentEncode(from))", method: "POST")
        } catch let error as RegistryError {
            options.log("\(reference.registry): blob \(digest): no mount from \(from) (\(error.message)); uploading it")
            return try startUpload()
        }
        if response.status == 201 {
            options.log("\(reference.registry): blob \(digest): mounted from \(from)")
            return nil
        }
        return try location(of: response, after: repositoryURL + "/blobs/uploads/")
    }

    /// POST /blobs/uploads/: the new session's URL.
    private func startUpload() throws -> String {
        let response = try request("/blobs/uploads/", method: "POST")
        return try location(of: response, after: repositoryURL + "/blobs/uploads/")
    }

    /// A 202's Location as an absolute URL.
    private func location(of response: HTTPResponse, after url: String) throws -> String {
        guard response.status == 202, let location = response.header("Location"), !location.isEmpty else {
            throw RegistryError("\(url.prefix { $0 != "?" }): the registry answered \(response.status) without an upload Location")
        }
        return Self.resolve(location, against: url)
    }

    /// A Location header (absolute, host-relative or relative) made absolute against `url`.
    static func resolve(_ location: String, against url: String) -> String {
        if location.hasPrefix("http://") || location.hasPrefix("https://") { return location }
        let path = url.prefix { $0 != "?" }
        guard let schemeEnd = path.range(of: "://") else { return location }
        if location.hasPrefix("/") {
            return path[..<(path[schemeEnd.upperBound...].firstIndex(of: "/") ?? path.endIndex)] + location
        }
        return path[..<(path.lastIndex(of: "/").map { path.index(after: $0) } ?? path.endIndex)] + location
    }

    /// Sends the file into the session at `session`: one PUT when it fits a chunk, else PATCH
    /// chunks and a closing PUT. A transport error or 5xx is recovered from by asking the
    /// session how much it holds (continuing from there) or by starting a new session, at most
    /// `maxAttempts - 1` times in all; the registry checks the digest at the end.
    private func upload(_ file: MappedFile, digest: String, session: String) throws {
        let chunk = Self.uploadChunkSize
        var location = session
        var offset = 0
        var failures = 0
        while true {
            do {
                if offset == 0 && file.size <= chunk {
                    try finish(location, digest: digest, file: file, body: file.bytes(0..<file.size))
                    return
                }
                if offset == file.size {
                    try finish(location, digest: digest, file: file, body: file.bytes(offset..<offset))
                    return
                }
                let end = min(offset + chunk, file.size)
                let response = try request(
                    location, method: "PATCH",
                    headers: ["Content-Type: application/octet-stream", "Content-Range: \(offset)-\(end - 1)", "Expect:"],
                    body: file.bytes(offset..<end), expected: [404, 416], attempts: 1)
                // 416: the session holds other bytes than we think; 404: it expired. Both recover.
                guard response.status == 202 else {
                    throw RegistryError(.chunkRefused(digest: digest, offset: offset, status: response.status))
                }
                location = try self.location(of: response, after: location)
                offset = end
            } catch let error as RegistryError where error.isTransient {
                failures += 1
                guard failures < options.maxAttempts else {
                    throw RegistryError("blob \(digest): upload of \(file.path) failed", cause: error)
                }
                options.log("\(reference.registry): blob \(digest): \(error.message); recovering (\(failures)/\(options.maxAttempts - 1))")
                sleep(seconds: options.backoff * Double(1 << (failures - 1)))
                if let (resumed, received) = try? uploadStatus(location), received > 0, received <= offset {
                    options.log("\(reference.registry): blob \(digest): the registry holds \(received) bytes; continuing")
                    (location, offset) = (resumed, received)
                } else if try hasBlob(digest, size: Int64(file.size)) {
                    return  // the closing PUT arrived; only its answer was lost
                } else {
                    options.log("\(reference.registry): blob \(digest): starting the upload again")
                    (location, offset) = (try startUpload(), 0)
                }
            }
        }
    }

    /// PUT ?digest= with the last bytes (all of them for a one-request upload, none after chunks).
    private func finish(_ location: String, digest: String, file: MappedFile, body: UnsafeRawBufferPointer) throws {
        let url = location + (location.contains("?") ? "&" : "?") + "digest=" + percentEncode(digest)
        let response = try request(
            url, method: "PUT", headers: ["Content-Type: application/octet-stream", "Expect:"],
            body: body, expected: [400], attempts: 1)
        guard response.status == 400 else { return }
        let why = registryMessage(response)
        if why.contains("DIGEST_INVALID") {
            throw RegistryError("blob \(digest): the registry found another digest in the \(file.size) bytes of \(file.path)\(why)")
        }
        throw RegistryError("blob \(digest): the registry refused the upload of \(file.path): HTTP 400\(why)")
    }

    /// GET of an upload session: its (possibly new) URL and how many bytes it holds, from
    /// `Range: 0-N` (N + 1 bytes; "0-0" is taken as none, which only costs a restart).
    private func uploadStatus(_ location: String) throws -> (String, Int) {
        let response = try request(location, attempts: 1)
        guard let range = response.header("Range"), let dash = range.lastIndex(of: "-"),
            let last = Int(range[range.index(after: dash)...])
        else {
            throw RegistryError("upload status without a Range")
        }
        return (response.header("Location").map { Self.resolve($0, against: location) } ?? location, last == 0 ? 0 : last + 1)
    }

    /// PUT of a manifest under `tag` (or a digest); returns its digest, checked against the
    /// registry's Docker-Content-Digest when it sends one.
    func pushManifest(_ bytes: [UInt8], mediaType: String, tag: String) throws -> String {
        let digest = sha256Digest(bytes)
        let response = try bytes.withUnsafeBytes { body in
            try request("/manifests/\(tag)", method: "PUT", headers: ["Content-Type: " + mediaType], body: body)
        }
        if let claimed = response.header("Docker-Content-Digest"), claimed.hasPrefix("sha256:"), claimed != digest {
            throw RegistryError(
                .digestMismatch(
                    subject: "\(reference.registry)/\(reference.repository):\(tag)", check: .storedManifest, expected: digest,
                    actual: claimed))
        }
        return digest
    }
}
