// `gvmc pull`: an image from a Golem registry by tag or hash, as a provider fetches it: resolved
// through /v1/image/info, downloaded with Range resume after a dropped connection, and kept only
// when its SHA3-224 is the one the registry named (written beside the output, then renamed).
// `gvmc run` and `gvmc manifest create` resolve a tag or hash here too.
import Foundation
import GVMI
import HTTPTransport
import SquashFS

/// Pulls an image from a Golem registry by tag or hash, resuming and checking its SHA3-224.
public enum ImagePull {
    /// What to pull: `USER/REPO[:TAG]` or an image hash (56 hex digits of SHA3-224).
    public enum Reference: Sendable, Equatable {
        case tag(GolemImageName)
        case hash(String)

        public init(_ text: String) throws(GolemRegistryError) {
            let hex = text.lowercased()
            if hex.utf8.count == 56, hex.allSatisfy({ $0.isHexDigit }) {
                self = .hash(hex)
            } else {
                self = .tag(try GolemImageName(text))
            }
        }

        /// `user-repo-tag.gvmi` (gvmkit-build's naming without its image id), or `<hash>.gvmi`.
        public var defaultOutput: String {
            switch self {
            case .tag(let name): return "\(name.user.map { $0 + "-" } ?? "")\(name.repository)-\(name.tag).gvmi"
            case .hash(let hash): return hash + ".gvmi"
            }
        }
    }

    /// What the registry has under `reference` (`GET /v1/image/info`): the image's hash, download
    /// URL and size. `count` lets the registry count a download. An answer naming another hash
    /// than the one asked for is refused.
    public static func resolve(
        _ reference: Reference, registry: String, retry: RetryPolicy = RetryPolicy(), count: Bool,
        log: @escaping @Sendable (String) -> Void = { _ in }
    ) throws(GolemRegistryError) -> ImageInfo {
        try resolve(reference, client: try client(registry, retry: retry, log: log), count: count)
    }

    /// Downloads `reference` from `registry` to `output` (counted as a download); returns what
    /// the registry resolved it to.
    public static func pull(
        _ reference: Reference, to output: String, registry: String, progress: RegistryProgress = .quiet,
        retry: RetryPolicy = RetryPolicy(), log: @escaping @Sendable (String) -> Void = { _ in }
    )
        throws(GolemRegistryError) -> ImageInfo
    {
        let client = try client(registry, retry: retry, log: log)
        progress.phase(.resolving)
        let info = try resolve(reference, client: client, count: true)
        try save(info, to: output, client: client, progress: progress, retry: retry, log: log)
        return info
    }

    /// Downloads an image `resolve` named to `output`, without asking the registry again.
    public static func pull(
        _ info: ImageInfo, to output: String, registry: String, progress: RegistryProgress = .quiet,
        retry: RetryPolicy = RetryPolicy(), log: @escaping @Sendable (String) -> Void = { _ in }
    )
        throws(GolemRegistryError)
    {
        try save(info, to: output, client: try client(registry, retry: retry, log: log), progress: progress, retry: retry, log: log)
    }

    private static func client(
        _ registry: String, retry: RetryPolicy, log: @escaping @Sendable (String) -> Void
    )
        throws(GolemRegistryError) -> GolemRegistryClient
    {
        let client = try GolemRegistryClient(registry: registry, retry: retry)
        client.log = log
        return client
    }

    static func resolve(_ reference: Reference, client: GolemRegistryClient, count: Bool) throws(GolemRegistryError) -> ImageInfo {
        switch reference {
        case .tag(let name):
            return try client.info(tag: name.description, count: count)
        case .hash(let hash):
            let info = try client.info(hash: hash, count: count)
            guard info.sha3 == hash.lowercased() else {
                throw .hashMismatch(url: client.registry + "/v1/image/info", expected: hash, actual: info.sha3)
            }
            return info
        }
    }

    /// Downloads `info` beside `output` and renames it into place only when its SHA3-224 is
    /// `info.sha3`; nothing is left at `output` otherwise. The bytes go to a partial file named
    /// after the image hash (`PartialDownload`): a pull that fails on the network or is killed
    /// leaves them there, and the next pull of the same image resumes after them with `Range`.
    static func save(
        _ info: ImageInfo, to output: String, client: GolemRegistryClient, progress: RegistryProgress,
        retry: RetryPolicy, log: (String) -> Void
    ) throws(GolemRegistryError) {
        let file = try PartialDownload(output: output, sha3: info.sha3, size: info.size, log: log)
        defer { file.close() }
        if file.kept > 0 { log("resuming \(info.sha3.prefix(12)) after the \(file.kept) bytes kept in \(file.path)") }
        do throws(GolemRegistryError) {
            let actual = try download(info, into: file, client: client, progress: progress, retry: retry, log: log)
            guard actual == info.sha3 else { throw .hashMismatch(url: info.url, expected: info.sha3, actual: actual) }
            try file.commit()
        } catch {
            switch error {
            // Kept for the next pull: the network failed or the server had a passing fault. A
            // 4xx to a ranged request (an expired link, a refused range) starts over next time.
            case .unreachable where file.written > 0:
                throw .downloadInterrupted(error, kept: file.written, partial: file.path)
            case .unexpectedStatus(_, let status, _) where file.written > 0 && (status >= 500 || status == 429 || status == 408):
                throw .downloadInterrupted(error, kept: file.written, partial: file.path)
            default:
                file.remove()
                throw error
            }
        }
    }

    /// Streams `info.url` into `file` after the bytes it holds, resuming with Range after
    /// transport failures; returns the SHA3-224 of the whole file.
    static func download(
        _ info: ImageInfo, into file: PartialDownload, client: GolemRegistryClient, progress: RegistryProgress,
        retry: RetryPolicy, log: (String) -> Void
    ) throws(GolemRegistryError) -> String {
        progress.phase(.downloading)
        var sha3 = try file.hashKept()
        var written = file.kept {
            didSet { file.written = written }
        }
        progress.bytes(written, info.size ?? 0)
        var attempt = 0
        while true {
            attempt += 1
            var failure: GolemRegistryError?
            let problem: String
            do {
                var firstBytes = true
                let response = try client.http.perform("GET", info.url, headers: [], resumeFrom: Int64(written)) { status, chunk in
                    if firstBytes && status == 200 && written > 0 {
                        // The server ignored Range: start over.
                        sha3 = SHA3_224()
                        written = 0
                    }
                    firstBytes = false
                    do throws(GolemRegistryError) { try file.write(chunk, at: written) } catch {
                        failure = error
                        return false
                    }
                    sha3.update(chunk)
                    written += UInt64(chunk.count)
                    progress.bytes(written, info.size ?? 0)
                    return true
                }
                // 416: nothing past what is kept (a complete partial file; the hash decides).
                if (200..<300).contains(response.status)
                    || response.status == 416 && written > 0 && (info.size == nil || written == info.size)
                {
                    try file.truncate(to: written)
                    return sha3.finalize().hexString
                }
                if response.status == 404 { throw GolemRegistryError.notFound(what: "at \(info.url)", registry: client.registry) }
                guard response.status == 429 || response.status >= 500, attempt < retry.attempts else {
                    throw GolemRegistryError.unexpectedStatus(url: info.url, status: response.status, message: client.message(response))
                }
                problem = "HTTP \(response.status)"
            } catch is StreamAborted {
                throw failure ?? .io(path: file.path, operation: "write", errno: EIO)
            } catch let e as TransportError {
                guard !e.isPermanent, attempt < retry.attempts else {
                    throw .unreachable(url: info.url, reason: e.message, attempts: attempt)
                }
                problem = e.message
            } catch let e as GolemRegistryError {
                throw e
            } catch {
                throw .unreachable(url: info.url, reason: "\(error)", attempts: attempt)
            }
            let delay = retry.delay(after: attempt)
            log(
                "\(info.url): \(problem) after \(written) bytes; resuming in \(String(format: "%.1f", delay)) s (\(attempt)/\(retry.attempts - 1))"
            )
            usleep(UInt32(delay * 1_000_000))
        }
    }
}

/// The file a pull writes before the image is checked: `<output>.<first 16 hex of the image
/// hash>.partial` beside the output, locked while a pull writes it (a second pull of the same
/// image to the same place waits for nothing: it is refused), kept when a pull is interrupted,
/// renamed to the output once the whole file has the image hash, removed when it does not.
final class PartialDownload {
    let path: String
    let output: String
    let fd: Int32
    /// Bytes there when the pull started (a previous pull's), and bytes there now.
    private(set) var kept: UInt64
    var written: UInt64

    init(output: String, sha3: String, size: UInt64?, log: (String) -> Void = { _ in }) throws(GolemRegistryError) {
        self.output = output
        path = output + "." + sha3.prefix(16) + ".partial"
        var waited = false
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
            guard fd >= 0 else { throw .io(path: path, operation: "open the partial download", errno: errno) }
            // Another pull of this image to this place: wait for it (`gvmc run`s of one image).
            if flock(fd, LOCK_EX | LOCK_NB) != 0 {
                if !waited { log("waiting for another gvmc that is downloading this image to \(output)") }
                waited = true
                while flock(fd, LOCK_EX) != 0 {
                    guard errno == EINTR else { Glibc.close(fd); throw .io(path: path, operation: "lock", errno: errno) }
                }
            }
            var st = stat()
            guard fstat(fd, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
                Glibc.close(fd)
                throw .io(path: path, operation: "open the partial download (not a regular file)", errno: EINVAL)
            }
            // The lock is on this inode: the pull that held it may have renamed or removed it.
            guard PartialDownload.names(path, fd) else { Glibc.close(fd); continue }
            // Only a file of the user's own, with no other name, is written and then renamed
            // to the output (not one another user prepared in a shared directory, nor a hard
            // link to another file).
            guard st.st_uid == geteuid(), st.st_nlink == 1 else {
                Glibc.close(fd)
                throw .io(
                    path: path, operation: "use the partial download (another user's file, or one with other links; remove it)",
                    errno: EPERM)
            }
            self.fd = fd
            kept = UInt64(st.st_size)
            break
        }
        if let size, kept > size {
            _ = ftruncate(fd, 0)
            kept = 0
        }
        written = kept
    }

    /// Whether `path` still names the file open as `fd`.
    static func names(_ path: String, _ fd: Int32) -> Bool {
        var open = stat(), named = stat()
        return fstat(fd, &open) == 0 && lstat(path, &named) == 0 && open.st_dev == named.st_dev && open.st_ino == named.st_ino
    }

    /// SHA3-224 state over the kept bytes.
    func hashKept() throws(GolemRegistryError) -> SHA3_224 {
        var sha3 = SHA3_224()
        let failed = GVMIImageWriter.forEachChunk(fd: fd, size: kept) { sha3.update($0) }
        guard failed == 0 else { throw .io(path: path, operation: "read the kept bytes", errno: failed) }
        return sha3
    }

    func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(GolemRegistryError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io(path: path, operation: "write", errno: n < 0 ? errno : EIO) }
            done += n
        }
    }

    func truncate(to size: UInt64) throws(GolemRegistryError) {
        guard ftruncate(fd, off_t(size)) == 0 else { throw .io(path: path, operation: "truncate", errno: errno) }
    }

    /// Moves the checked file to the output.
    func commit() throws(GolemRegistryError) {
        guard Self.names(path, fd) else {
            throw .io(path: path, operation: "rename to \(output) (the partial file was replaced)", errno: ESTALE)
        }
        guard fsync(fd) == 0 || errno == EINVAL, rename(path, output) == 0 else {
            throw .io(path: output, operation: "rename from \(path)", errno: errno)
        }
    }

    func remove() { if Self.names(path, fd) { unlink(path) } }

    func close() { Glibc.close(fd) }
}
