// Where a shared step cache lives: a tag in an OCI registry, or a tag in an OCI image layout
// directory (for CI caches that save directories). Both hold the same manifest and blobs.
import Foundation
import ImageSpec
import Registry
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// A shared cache's storage (registry or layout directory): its manifest and blobs.
public protocol CacheStore: AnyObject {
    /// `registry HOST/REPO:TAG` or `local DIR:TAG`.
    var label: String { get }
    /// The manifest under the tag; nil when there is none yet.
    func manifest() throws(CacheError) -> [UInt8]?
    /// A blob into `path` (created), its digest and size checked; nothing left on failure.
    func fetch(_ descriptor: Descriptor, to path: String) throws(CacheError)
    /// Whether the store has the blob.
    func has(_ digest: String, size: Int64) throws(CacheError) -> Bool
    /// Adds the blob in `path` unless the store has it.
    func put(_ path: String, digest: String, size: Int64) throws(CacheError)
    /// Puts the manifest under the tag (after every blob it names).
    func putManifest(_ bytes: [UInt8]) throws(CacheError)
    /// Runs an export's read-merge-write of the tag; a store that can (a directory, by a lock
    /// file) keeps other writers out meanwhile.
    func exclusive<T>(_ body: () throws(CacheError) -> T) throws(CacheError) -> T
}

extension CacheStore {
    public func exclusive<T>(_ body: () throws(CacheError) -> T) throws(CacheError) -> T { try body() }
}

public func makeCacheStore(_ spec: CacheSpec, options: RegistryOptions) throws(CacheError) -> CacheStore {
    switch spec.location {
    case .registry(let reference): return try RegistryCacheStore(reference, label: spec.label, options: options)
    case .local(let directory, let tag): return LayoutCacheStore(directory: directory, tag: tag, label: spec.label)
    }
}

/// An OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`), the tag being the
/// `org.opencontainers.image.ref.name` annotation of a manifest in `index.json` (what umoci and
/// skopeo read as `DIR:TAG`). index.json is replaced atomically under a lock file.
final class LayoutCacheStore: CacheStore {
    let label: String
    let directory: String
    let tag: String
    static let refName = Descriptor.refNameAnnotation

    init(directory: String, tag: String, label: String) {
        self.directory = directory; self.tag = tag; self.label = label
    }

    func blobPath(_ digest: String) -> String { directory + "/blobs/sha256/" + digest.dropFirst("sha256:".count) }

    /// The layout's index.json; what it holds besides the tags gvmc writes (other tags, their
    /// platforms and annotations) is kept when gvmc writes it again.
    func readIndex() throws(CacheError) -> ImageIndex? {
        guard access(directory + "/index.json", F_OK) == 0 else { return nil }
        let bytes = try readSmall(directory + "/index.json", limit: 4 << 20)
        do { return try JSONDocument.decode(ImageIndex.self, from: bytes, document: "\(directory)/index.json") } catch {
            throw CacheError(.malformed(context: "\(label): \(error.document) is not an OCI image index", cause: error))
        }
    }

    func manifest() throws(CacheError) -> [UInt8]? {
        guard let index = try readIndex(), let d = index.manifests.last(where: { $0.annotations?[Self.refName] == tag }) else { return nil }
        guard d.size >= 0 && d.size <= 4 << 20, CacheError.isDigest(d.digest) else {
            throw CacheError("\(label): index.json names a manifest \(d.digest.prefix(80)) of \(d.size) bytes")
        }
        let bytes = try readSmall(blobPath(d.digest), limit: Int(d.size))
        guard bytes.count == d.size, "sha256:" + SHA256.hash(bytes).hexString == d.digest else {
            throw CacheError("\(label): manifest \(d.digest) does not match its digest")
        }
        return bytes
    }

    /// A regular file of at most `limit` bytes (nothing followed, no FIFO waited on).
    func readSmall(_ path: String, limit: Int) throws(CacheError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard fd >= 0 else { throw .io("open", path) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, Int(st.st_size) <= limit else {
            throw CacheError("\(path): not a regular file of at most \(limit) bytes")
        }
        var out = [UInt8](repeating: 0, count: Int(st.st_size))
        var done = 0
        while done < out.count {
            let n = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw .io("read", path) }
            done += n
        }
        return out
    }

    /// A blob into `path`: only a regular file under blobs/sha256 with the descriptor's digest
    /// and size (never more than its size is read, nothing is followed).
    func fetch(_ descriptor: Descriptor, to path: String) throws(CacheError) {
        guard CacheError.isDigest(descriptor.digest), descriptor.size >= 0 else {
            throw CacheError("\(label): \(descriptor.digest.prefix(80)) is not a sha256 digest")
        }
        let temp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(CacheError) {
            let (digest, size) = try copy(blobPath(descriptor.digest), to: temp, limit: descriptor.size)
            guard digest == descriptor.digest, size == descriptor.size else {
                throw CacheError(.digestMismatch(label: label, expected: descriptor.digest, actual: digest, size: size))
            }
            guard rename(temp, path) == 0 else { throw CacheError.io("rename", path) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    func has(_ digest: String, size: Int64) throws(CacheError) -> Bool {
        var st = stat()
        return CacheError.isDigest(digest) && lstat(blobPath(digest), &st) == 0 && st.st_mode & S_IFMT == S_IFREG
            && Int64(st.st_size) == size
    }

    func put(_ path: String, digest: String, size: Int64) throws(CacheError) {
        try prepare()
        guard CacheError.isDigest(digest) else { throw CacheError("\(label): \(digest.prefix(80)) is not a sha256 digest") }
        let final = blobPath(digest)
        if try has(digest, size: size) { return }
        let temp = final + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do throws(CacheError) {
            let (copied, n) = try copy(path, to: temp, limit: size)
            guard copied == digest, n == size else { throw CacheError("\(path): changed while it was exported") }
            guard rename(temp, final) == 0 else { throw CacheError.io("rename", final) }
        } catch {
            unlink(temp)
            throw error
        }
    }

    func putManifest(_ bytes: [UInt8]) throws(CacheError) {
        try prepare()
        let digest = "sha256:" + SHA256.hash(bytes).hexString
        try writeAtomically(bytes, to: blobPath(digest))
        if lockDescriptor < 0 { return try exclusive { () throws(CacheError) in try putIndexEntry(digest, size: Int64(bytes.count)) } }
        try putIndexEntry(digest, size: Int64(bytes.count))
    }

    /// The lock file's descriptor while `exclusive` runs.
    private var lockDescriptor: Int32 = -1

    func exclusive<T>(_ body: () throws(CacheError) -> T) throws(CacheError) -> T {
        if lockDescriptor >= 0 { return try body() }
        try prepare()
        let lock = open(directory + "/.gvmc-lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard lock >= 0 else { throw .io("open", directory + "/.gvmc-lock") }
        defer { close(lock); lockDescriptor = -1 }
        while flock(lock, LOCK_EX) != 0 {
            guard errno == EINTR else { throw .io("flock", directory + "/.gvmc-lock") }
        }
        lockDescriptor = lock
        return try body()
    }

    func putIndexEntry(_ digest: String, size: Int64) throws(CacheError) {
        var index = try readIndex() ?? ImageIndex()
        index.manifests.removeAll { $0.annotations?[Self.refName] == tag }
        index.manifests.append(
            Descriptor(
                mediaType: CacheIndex.manifestMediaType, digest: digest, size: size,
                annotations: [Self.refName: tag]))
        try writeAtomically(JSONDocument.encode(index), to: directory + "/index.json")
    }

    func prepare() throws(CacheError) {
        for dir in [directory, directory + "/blobs", directory + "/blobs/sha256"] where mkdir(dir, 0o755) != 0 && errno != EEXIST {
            throw .io("mkdir", dir)
        }
        let layout = directory + "/oci-layout"
        if access(layout, F_OK) != 0 { try writeAtomically(Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: layout) }
    }

    func writeAtomically(_ bytes: [UInt8], to path: String) throws(CacheError) {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw .io("create", temp) }
        let ok = bytes.withUnsafeBytes { b in
            var off = 0
            while off < b.count {
                let n = write(fd, b.baseAddress! + off, b.count - off)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return false }
                off += n
            }
            return fsync(fd) == 0
        }
        close(fd)
        guard ok, rename(temp, path) == 0 else {
            let e = CacheError.io("write", path)
            unlink(temp)
            throw e
        }
    }

    /// Copies a regular file (not a symlink, FIFO or device) of at most `limit` bytes, returning
    /// the copy's sha256 digest and size.
    func copy(_ from: String, to: String, limit: Int64) throws(CacheError) -> (String, Int64) {
        let input = open(from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK)
        guard input >= 0 else { throw .io("open", from) }
        defer { close(input) }
        var st = stat()
        guard fstat(input, &st) == 0, st.st_mode & S_IFMT == S_IFREG else { throw CacheError("\(from): not a regular file") }
        guard Int64(st.st_size) <= limit else { throw CacheError("\(from): \(st.st_size) bytes, more than the \(limit) expected") }
        let output = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard output >= 0 else { throw .io("create", to) }
        defer { close(output) }
        var sha = SHA256()
        var size: Int64 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let n = read(input, buffer.baseAddress, Int(min(Int64(buffer.count), limit + 1 - size)))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .io("read", from) }
            if n == 0 { break }
            sha.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            var off = 0
            while off < n {
                let w = write(output, buffer.baseAddress! + off, n - off)
                if w < 0 && errno == EINTR { continue }
                guard w > 0 else { throw .io("write", to) }
                off += w
            }
            size += Int64(n)
            guard size <= limit else { throw CacheError("\(from): more than the \(limit) bytes expected") }
        }
        guard fsync(output) == 0 else { throw .io("fsync", to) }
        return ("sha256:" + sha.finalize().hexString, size)
    }
}
