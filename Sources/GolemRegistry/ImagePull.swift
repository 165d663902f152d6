// `gvmc pull`: an image from a Golem registry by tag or hash, as a provider fetches it: resolved
// through /v1/image/info, downloaded with Range resume after a dropped connection, and kept only
// when its SHA3-224 is the one the registry named (written beside the output, then renamed).
// `gvmc run` and `gvmc manifest create` resolve a tag or hash here too.
import Foundation
import GVMI
import HTTPTransport
import SquashFS

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
    public static func resolve(_ reference: Reference, registry: String, retry: RetryPolicy = RetryPolicy(), count: Bool,
                               log: @escaping @Sendable (String) -> Void = { _ in }) throws(GolemRegistryError) -> ImageInfo {
        try resolve(reference, client: try client(registry, retry: retry, log: log), count: count)
    }

    /// Downloads `reference` from `registry` to `output` (counted as a download); returns what
    /// the registry resolved it to.
    public static func pull(_ reference: Reference, to output: String, registry: String, progress: RegistryProgress = .quiet,
                            retry: RetryPolicy = RetryPolicy(), log: @escaping @Sendable (String) -> Void = { _ in })
        throws(GolemRegistryError) -> ImageInfo {
        let client = try client(registry, retry: retry, log: log)
        progress.phase(.resolving)
        let info = try resolve(reference, client: client, count: true)
        try save(info, to: output, client: client, progress: progress, retry: retry, log: log)
        return info
    }

    /// Downloads an image `resolve` named to `output`, without asking the registry again.
    public static func pull(_ info: ImageInfo, to output: String, registry: String, progress: RegistryProgress = .quiet,
                            retry: RetryPolicy = RetryPolicy(), log: @escaping @Sendable (String) -> Void = { _ in })
        throws(GolemRegistryError) {
        try save(info, to: output, client: try client(registry, retry: retry, log: log), progress: progress, retry: retry, log: log)
    }

    private static func client(_ registry: String, retry: RetryPolicy, log: @escaping @Sendable (String) -> Void)
        throws(GolemRegistryError) -> GolemRegistryClient {
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
    /// `info.sha3`; nothing is left at `output` otherwise.
    static func save(_ info: ImageInfo, to output: String, client: GolemRegistryClient, progress: RegistryProgress,
                     retry: RetryPolicy, log: (String) -> Void) throws(GolemRegistryError) {
        let file: OutputFile
        do { file = try OutputFile(target: output) } catch { throw .io(path: output, operation: "create a temporary file beside it", errno: EACCES) }
        do throws(GolemRegistryError) {
            let actual = try download(info, into: file, client: client, progress: progress, retry: retry, log: log)
            guard actual == info.sha3 else { throw .hashMismatch(url: info.url, expected: info.sha3, actual: actual) }
            do { try file.commit() } catch { throw .io(path: output, operation: "rename into place", errno: EIO) }
        } catch {
            file.discard()
            throw error
        }
    }

    /// Streams `info.url` into `file`, resuming with Range after transport failures; returns the
    /// SHA3-224 of what was written.
    static func download(_ info: ImageInfo, into file: OutputFile, client: GolemRegistryClient, progress: RegistryProgress,
                         retry: RetryPolicy, log: (String) -> Void) throws(GolemRegistryError) -> String {
        progress.phase(.downloading)
        var sha3 = SHA3_224()
        var written: UInt64 = 0
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
                    do { try file.write(chunk, at: written) } catch {
                        failure = .io(path: file.temporaryPath, operation: "write", errno: EIO)
                        return false
                    }
                    sha3.update(chunk)
                    written += UInt64(chunk.count)
                    progress.bytes(written, info.size ?? 0)
                    return true
                }
                if (200..<300).contains(response.status) || response.status == 416 && written == info.size {
                    do { try file.truncate(to: written) } catch { throw GolemRegistryError.io(path: file.temporaryPath, operation: "truncate", errno: EIO) }
                    return sha3.finalize().hexString
                }
                if response.status == 404 { throw GolemRegistryError.notFound(what: "at \(info.url)", registry: client.registry) }
                guard response.status == 429 || response.status >= 500, attempt < retry.attempts else {
                    throw GolemRegistryError.unexpectedStatus(url: info.url, status: response.status, message: client.message(response))
                }
                problem = "HTTP \(response.status)"
            } catch is StreamAborted {
                throw failure ?? .io(path: file.temporaryPath, operation: "write", errno: EIO)
            } catch let e as TransportError {
                guard !e.isPermanent, attempt < retry.attempts else { throw .unreachable(url: info.url, reason: e.message, attempts: attempt) }
                problem = e.message
            } catch let e as GolemRegistryError {
                throw e
            } catch {
                throw .unreachable(url: info.url, reason: "\(error)", attempts: attempt)
            }
            let delay = retry.delay(after: attempt)
            log("\(info.url): \(problem) after \(written) bytes; resuming in \(String(format: "%.1f", delay)) s (\(attempt)/\(retry.attempts - 1))")
            usleep(UInt32(delay * 1_000_000))
        }
    }
}
