// The content-addressed blob cache: `DIR/blobs/sha256/<hex>`, written through a temporary file
// in the same directory and renamed only after the digest was verified. A per-blob flock
// (`DIR/locks/<hex>`, never deleted, so no process can lock a file another just unlinked) makes
// two gvmc processes wait for each other instead of downloading the same blob twice.
import BuildCache
import Foundation
import SquashFS

/// The content-addressed blob cache (`DIR/blobs/sha256/<hex>`), written only after a digest check.
public struct BlobCache: Sendable {
    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `$XDG_CACHE_HOME/gvmc`, else `~/.cache/gvmc`.
    public static func defaultDirectory(environment: [String: String]) -> String {
        if let x = environment["XDG_CACHE_HOME"], x.hasPrefix("/") { return x + "/gvmc" }
        return (environment["HOME"] ?? NSHomeDirectory()) + "/.cache/gvmc"
    }

    var blobDirectory: String { CacheLayout(directory).blobs }

    public func path(for digest: String) -> String { blobDirectory + "/" + digest.dropFirst("sha256:".count) }

    public func contains(_ digest: String) -> Bool { access(path(for: digest), F_OK) == 0 }

    func prepare() throws(RegistryError) {
        do {
            try FileManager.default.createDirectory(atPath: blobDirectory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: CacheLayout(directory).locks, withIntermediateDirectories: true)
        } catch {
            throw RegistryError("cache \(directory): cannot create \(blobDirectory): \(error.localizedDescription)")
        }
    }

    /// Ensures the blob is cached: `fetch` writes it into the given descriptor and throws when
    /// the bytes are wrong; then the file is renamed into place. Returns the blob's path.
    public func store(_ digest: String, fetch: (Int32) throws -> Void) throws -> String {
        try validateDigest(digest, what: "blob")
        let final = path(for: digest)
        if utimensat(AT_FDCWD, final, nil, 0) == 0 { return final }  // cached; its use recorded for `gvmc prune`
        return try withLock(String(digest.dropFirst("sha256:".count))) {
            if access(final, F_OK) == 0 { return final }  // another process finished it meanwhile
            try fill(final, fetch: fetch)
            return final
        }
    }

    /// Runs `body` holding the cache's exclusive lock `locks/NAME` (other gvmc processes wait).
    public func withLock<T>(_ name: String, _ body: () throws -> T) throws -> T {
        try prepare()
        let lockPath = CacheLayout(directory).locks + "/" + name
        let lockFD = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lockFD >= 0 else { throw RegistryError.system("cache: cannot open ", lockPath) }
        defer { close(lockFD) }
        while flock(lockFD, LOCK_EX) != 0 {
            guard errno == EINTR else { throw RegistryError.system("cache: cannot lock ", lockPath) }
        }
        defer { flock(lockFD, LOCK_UN) }
        return try body()
    }

    /// Writes the blob through a temporary file renamed to `final` once `fetch` succeeded.
    private func fill(_ final: String, fetch: (Int32) throws -> Void) throws {
        let temp = final + ".partial-\(getpid())"
        let fd = open(temp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RegistryError.system("cache: cannot create ", temp) }
        TemporaryFiles.shared.register(temp)  // removed on Ctrl-C
        defer { TemporaryFiles.shared.unregister(temp) }
        do {
            defer { close(fd) }
            try fetch(fd)
            guard fsync(fd) == 0 else { throw RegistryError.system("cache: fsync ", temp, " failed") }
            guard rename(temp, final) == 0 else { throw RegistryError.system("cache: rename ", temp, " failed") }
        } catch {
            unlink(temp)
            throw error
        }
    }
}
