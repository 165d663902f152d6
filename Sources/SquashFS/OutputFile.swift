// The image file being written: a temporary file beside the target, renamed into place only
// when complete. An interrupted or failed write leaves neither a partial target nor the
// temporary file (the CLI's signal handler removes registered temporaries).
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Sendable without checks: the writer's thread owns it; other threads (the hash threads of the
/// read-back) only read `fileDescriptor`, a constant, with pread.
public final class OutputFile: @unchecked Sendable {
    public let targetPath: String
    public let temporaryPath: String
    let fd: Int32
    private var closed = false

    public init(target: String) throws(SquashFSError) {
        targetPath = target
        let slash = target.lastIndex(of: "/")
        let dir = slash.map { String(target[..<$0]) } ?? "."
        let base = slash.map { String(target[target.index(after: $0)...]) } ?? target
        OutputFile.collectStale(in: dir.isEmpty ? "/" : dir, base: base)
        var template = Array("\(dir.isEmpty ? "/" : dir)/.\(base).XXXXXX.tmp".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 4) }
        guard fd >= 0 else { throw .io(path: target, operation: "create a temporary file beside it", errno: errno) }
        // The writer's mark, held until the descriptor closes (the kernel drops it when the
        // process dies however it dies): a temporary whose lock is free was left by a dead gvmc.
        _ = flock(fd, LOCK_EX | LOCK_NB)
        self.fd = fd
        temporaryPath = String(decoding: template.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        fchmod(fd, 0o644)
        TemporaryFiles.shared.register(temporaryPath)
    }

    /// Removes `.<base>.XXXXXX.tmp` files beside the target that no live process writes (a
    /// killed gvmc's partial outputs). One created in the last two seconds is left alone: its
    /// writer may not have taken its lock yet.
    static func collectStale(in dir: String, base: String) {
        guard let d = opendir(dir) else { return }
        defer { closedir(d) }
        let prefix = "." + base + ".", suffix = ".tmp"
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.utf8.count == prefix.utf8.count + 6 + suffix.utf8.count else {
                continue
            }
            let path = dir + "/" + name
            let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd >= 0 else { continue }
            defer { close(fd) }
            var st = stat()
            guard fstat(fd, &st) == 0, st.st_mode & S_IFMT == S_IFREG, st.st_uid == geteuid(),
                time(nil) - st.st_mtim.tv_sec >= 2, flock(fd, LOCK_EX | LOCK_NB) == 0
            else { continue }
            unlink(path)
        }
    }

    /// Writes all of `bytes` at `offset`.
    public func write(_ bytes: UnsafeRawBufferPointer, at offset: UInt64) throws(SquashFSError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(path: temporaryPath, operation: "write of \(bytes.count) bytes at offset \(offset)", errno: errno)
            }
            done += n
        }
    }

    public func write(_ bytes: [UInt8], at offset: UInt64) throws(SquashFSError) {
        let result: Result<Void, SquashFSError> = bytes.withUnsafeBytes { b in
            do throws(SquashFSError) { try write(b, at: offset); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    public func truncate(to size: UInt64) throws(SquashFSError) {
        guard ftruncate(fd, off_t(size)) == 0 else {
            throw .io(path: temporaryPath, operation: "truncate to \(size) bytes", errno: errno)
        }
    }

    /// Reads back `count` bytes (for hashing the finished file).
    public func read(at offset: UInt64, count: Int) throws(SquashFSError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress, count, off_t(offset)) }
        guard n == count else { throw .io(path: temporaryPath, operation: "read at offset \(offset)", errno: errno) }
        return out
    }

    public var fileDescriptor: Int32 { fd }

    /// Moves the finished file into place: at the target, or at `path` (in the same directory,
    /// for a name known only once the file is written).
    public func commit(as path: String? = nil) throws(SquashFSError) {
        guard !closed else { return }
        closed = true
        close(fd)
        let target = path ?? targetPath
        guard rename(temporaryPath, target) == 0 else {
            let e = errno
            unlink(temporaryPath)
            TemporaryFiles.shared.unregister(temporaryPath)
            throw .io(path: target, operation: "rename from \(temporaryPath)", errno: e)
        }
        TemporaryFiles.shared.unregister(temporaryPath)
    }

    /// Removes the temporary file.
    public func discard() {
        guard !closed else { return }
        closed = true
        close(fd)
        unlink(temporaryPath)
        TemporaryFiles.shared.unregister(temporaryPath)
    }

    deinit { discard() }
}

/// Temporary files in progress, so an interrupt handler can remove them.
public final class TemporaryFiles: Sendable {
    public static let shared = TemporaryFiles()
    private let paths = Mutex(Set<String>())

    public func register(_ path: String) { paths.withLock { _ = $0.insert(path) } }
    public func unregister(_ path: String) { paths.withLock { _ = $0.remove(path) } }

    /// Removes every registered temporary file (from a signal handler's point of view: best effort).
    public func removeAll() {
        let all = paths.withLock { $0 }
        for p in all { unlink(p) }
    }
}
