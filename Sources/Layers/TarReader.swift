// Layer tarballs through libarchive (loaded on first use): gzip, zstd or uncompressed tar from a
// file, with the compressed bytes hashed on the way so a blob's digest is checked while reading.
import CDynamic
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// The NUL-terminated message a C function left in `buffer`.
func cMessage(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// One tar header, as libarchive decoded it (PAX and GNU extensions included).
public struct TarEntry: Sendable {
    /// The type of the entry.
    public enum Kind: Sendable, Equatable { case file, directory, symlink, hardlink, characterDevice, blockDevice, fifo, socket }
    public var path: [UInt8]
    public var kind: Kind
    public var linkTarget: [UInt8]
    public var mode: UInt16
    public var uid: Int64
    public var gid: Int64
    public var mtime: Int64
    public var size: Int64
    public var major: UInt32
    public var minor: UInt32
    public var xattrs: [ExtendedAttribute]
    public var pathString: String { String(decoding: path, as: UTF8.self) }
}

/// Reads a (possibly compressed) tar file sequentially. Not thread-safe; one per layer pass.
public final class TarReader {
    let fd: Int32
    let name: String
    var handle: UnsafeMutableRawPointer?
    let buffer: UnsafeMutableRawPointer
    static let bufferSize = 1 << 20
    var sha256 = SHA256()
    var readErrno: Int32 = 0

    /// Opens `path`; `name` is what errors call the archive (a layer digest, a file name).
    public init(path: String, name: String) throws(LayerError) {
        var err = [CChar](repeating: 0, count: 256)
        guard gv_archive_load(&err, err.count) == 0 else {
            throw LayerError("libarchive is needed to read layers: \(cMessage(err)) (Debian: apt-get install libarchive13)")
        }
        fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw LayerError(.cannotOpen(layer: name, path: path, errno: errno)) }
        self.name = name
        buffer = UnsafeMutableRawPointer.allocate(byteCount: TarReader.bufferSize, alignment: 64)
        let context = Unmanaged.passUnretained(self).toOpaque()
        handle = gv_tar_open(
            { ctx, out in
                let reader = Unmanaged<TarReader>.fromOpaque(ctx!).takeUnretainedValue()
                return reader.fill(out!)
            }, context, &err, err.count)
        if handle == nil {
            // deinit closes the file and frees the buffer.
            throw LayerError("\(name): not a readable tar archive: \(cMessage(err))")
        }
    }

    deinit {
        gv_tar_close(handle)
        close(fd)
        buffer.deallocate()
    }

    private func fill(_ out: UnsafeMutablePointer<UnsafeRawPointer?>) -> Int {
        while true {
            let n = Glibc.read(fd, buffer, TarReader.bufferSize)
            if n < 0 && errno == EINTR { continue }
            if n < 0 { readErrno = errno; return -1 }
            if n > 0 {
                sha256.update(UnsafeRawBufferPointer(start: buffer, count: n))
            }
            out.pointee = UnsafeRawPointer(buffer)
            return n
        }
    }

    private func failure(_ what: String) -> LayerError {
        if readErrno != 0 { return LayerError(.system(subject: name, operation: "read", errno: readErrno)) }
        return LayerError("\(name): \(what): \(String(cString: gv_tar_error(handle)))")
    }

    /// The next header, or nil at the end of the archive.
    public func next() throws(LayerError) -> TarEntry? {
        var e = gv_tar_entry()
        let rc = gv_tar_next(handle, &e)
        if rc == 0 { return nil }
        if rc < 0 { throw failure("corrupt or truncated archive") }
        let kind: TarEntry.Kind
        var target: [UInt8] = []
        if let h = e.hardlink {
            kind = .hardlink
            target = Array(UnsafeRawBufferPointer(start: h, count: strlen(h)))
        } else {
            switch e.filetype & UInt32(S_IFMT) {
            case UInt32(S_IFREG): kind = .file
            case UInt32(S_IFDIR): kind = .directory
            case UInt32(S_IFLNK):
                kind = .symlink
                if let s = e.symlink { target = Array(UnsafeRawBufferPointer(start: s, count: strlen(s))) }
            case UInt32(S_IFCHR): kind = .characterDevice
            case UInt32(S_IFBLK): kind = .blockDevice
            case UInt32(S_IFIFO): kind = .fifo
            case UInt32(S_IFSOCK): kind = .socket
            default:
                throw LayerError("\(name): entry \(String(cString: e.path)): unknown file type \(String(e.filetype, radix: 8))")
            }
        }
        var xattrs: [ExtendedAttribute] = []
        var xn: UnsafePointer<CChar>?
        var xv: UnsafeRawPointer?
        var xs = 0
        while gv_tar_xattr_next(handle, &xn, &xv, &xs) != 0 {
            guard let xn else { continue }
            let value = xv.map { Array(UnsafeRawBufferPointer(start: $0, count: xs)) } ?? []
            xattrs.append(ExtendedAttribute(name: String(cString: xn), value: value))
        }
        return TarEntry(
            path: Array(UnsafeRawBufferPointer(start: e.path, count: strlen(e.path))), kind: kind,
            linkTarget: target, mode: UInt16(e.mode & 0o7777), uid: e.uid, gid: e.gid, mtime: e.mtime,
            size: e.size, major: e.rdev_major, minor: e.rdev_minor, xattrs: xattrs)
    }

    /// Reads the current entry's data; 0 at its end.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws(LayerError) -> Int {
        let n = gv_tar_read(handle, buffer.baseAddress, buffer.count)
        if n < 0 { throw failure("reading entry data") }
        return n
    }

    /// Reads to the end of the archive (so the digest covers every byte) and returns the
    /// `sha256:` digest of the compressed stream.
    public func finish() throws(LayerError) -> String {
        while true {
            var out: UnsafeRawPointer?
            let n = fill(&out)
            if n < 0 { throw failure("read") }
            if n == 0 { break }
        }
        return "sha256:" + sha256.finalize().hexString
    }
}
