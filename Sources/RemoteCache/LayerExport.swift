// A step's layer (an overlay upper directory in the step cache) as an OCI layer: a PAX tar with
// OCI whiteouts, compressed. Overlay's whiteouts (0/0 character devices) become `.wh.NAME`
// entries, opaque directories (`trusted.overlay.opaque` or, in a user namespace,
// `user.overlay.opaque`) a `.wh..wh..opq` entry; owners and device nodes an unprivileged build
// recorded in xattrs (RecordedOwner) become the entries' real owners and nodes; overlay's own
// xattrs are never exported. Entries are sorted, so one tree gives one tar.
import CSystem
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// Writes a step cache layer (an overlay upper directory) as a compressed OCI layer tar.
public enum LayerExport {
    /// Writes the layer of `directory` to `path` (created; the caller removes it on failure).
    /// `userXattrs`: the layer was made by overlay with `userxattr` (a user namespace), whose
    /// markers are `user.overlay.*`; otherwise they are `trusted.overlay.*` and `user.overlay.*`
    /// are ordinary xattrs.
    public static func write(
        _ directory: String, to path: String, compression: LayerCompression, userXattrs: Bool
    ) throws(CacheError) -> (digest: String, size: Int64) {
        let out = try CompressedFile(path: path, compression: compression)
        var tar = TarWriter(out)
        var links: [ino_t: String] = [:]
        try entry(directory, name: "", overlay: userXattrs ? "user.overlay." : "trusted.overlay.", tar: &tar, links: &links)
        try tar.finish()
        return try out.finish()
    }

    static func entry(_ path: String, name: String, overlay: String, tar: inout TarWriter, links: inout [ino_t: String]) throws(CacheError)
    {
        var st = stat()
        guard lstat(path, &st) == 0 else { throw .io("lstat", path) }
        let type = st.st_mode & S_IFMT
        let parent = name.split(separator: "/").dropLast().joined(separator: "/")
        let base = name.split(separator: "/").last.map(String.init) ?? ""
        let whiteoutName = parent.isEmpty ? ".wh." + base : parent + "/.wh." + base
        if type == S_IFCHR && st.st_rdev == 0 {
            try tar.add(TarHeader(name: whiteoutName, type: .file, mode: 0, mtime: Int64(st.st_mtim.tv_sec)))
            return
        }
        let xattrs = try readXattrs(path)
        var header = TarHeader(
            name: name.isEmpty ? "./" : (type == S_IFDIR ? name + "/" : name), type: .file,
            mode: UInt32(st.st_mode & 0o7777), mtime: Int64(st.st_mtim.tv_sec))
        header.uid = Int64(st.st_uid); header.gid = Int64(st.st_gid)
        var opaque = false
        for (key, value) in xattrs {
            switch key {
            case RecordedOwner.xattrName:
                if let o = RecordedOwner.parse(value) { header.uid = Int64(o.uid); header.gid = Int64(o.gid) }
            case RecordedOwner.deviceXattrName:
                if type == S_IFREG && st.st_size == 0, let d = RecordedOwner.parseDevice(value) {
                    header.type = d.block ? .blockDevice : .characterDevice
                    header.major = d.major; header.minor = d.minor
                }
            case overlay + "opaque":
                opaque = value == Array("y".utf8)
            case overlay + "redirect", overlay + "metacopy":
                // The entry's content or name lives in another layer: this one cannot stand alone.
                throw CacheError(
                    "\(path): an overlay \(key.dropFirst(overlay.count)) entry (the layer was made with redirect_dir or metacopy on); not exported"
                )
            default:
                if key.hasPrefix(overlay) || key.hasPrefix("user.gvmc.") { continue }
                header.xattrs.append((key, value))
            }
        }
        switch type {
        case S_IFDIR:
            header.type = .directory
            try tar.add(header)
            if opaque {
                try tar.add(
                    TarHeader(name: name.isEmpty ? ".wh..wh..opq" : name + "/.wh..wh..opq", type: .file, mode: 0, mtime: header.mtime))
            }
            for child in try list(path).sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }) {
                try entry(path + "/" + child, name: name.isEmpty ? child : name + "/" + child, overlay: overlay, tar: &tar, links: &links)
            }
        case S_IFREG where header.type == .file:
            if st.st_nlink > 1 {
                if let first = links[st.st_ino] {
                    header.type = .hardlink; header.linkName = first
                    try tar.add(header)
                    return
                }
                links[st.st_ino] = name
            }
            header.size = Int64(st.st_size)
            try tar.add(header)
            try tar.copyContent(of: path, size: header.size)
        case S_IFREG:
            try tar.add(header)  // a recorded device node
        case S_IFLNK:
            header.type = .symlink
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &target, Int(PATH_MAX))
            guard n >= 0 else { throw .io("readlink", path) }
            header.linkName = String(decoding: target[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            try tar.add(header)
        case S_IFCHR, S_IFBLK:
            header.type = type == S_IFCHR ? .characterDevice : .blockDevice
            (header.major, header.minor) = DeviceNumber.split(st.st_rdev)
            try tar.add(header)
        case S_IFIFO:
            header.type = .fifo
            try tar.add(header)
        default:
            break  // sockets have no tar form (BuildKit drops them too)
        }
    }

    static func list(_ path: String) throws(CacheError) -> [String] {
        guard let dir = opendir(path) else { throw .io("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let e = readdir(dir) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(validatingCString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard let name else { throw CacheError("\(path): holds a file name that is not UTF-8; the layer is not exported") }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func readXattrs(_ path: String) throws(CacheError) -> [(String, [UInt8])] {
        let size = gvmc_llistxattr(path, nil, 0)
        if size < 0 {
            return errno == ENOTSUP ? [] : try { () throws(CacheError) -> [(String, [UInt8])] in throw .io("llistxattr", path) }()
        }
        guard size > 0 else { return [] }
        var names = [CChar](repeating: 0, count: size)
        let got = gvmc_llistxattr(path, &names, size)
        guard got >= 0 else { throw .io("llistxattr", path) }
        var result: [(String, [UInt8])] = []
        for raw in names[0..<got].split(separator: 0) {
            let name = String(decoding: raw.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let vsize = gvmc_lgetxattr(path, name, nil, 0)
            guard vsize >= 0 else { continue }
            var value = [UInt8](repeating: 0, count: vsize)
            let n = gvmc_lgetxattr(path, name, &value, vsize)
            guard n >= 0 else { continue }
            result.append((name, Array(value[0..<n])))
        }
        return result.sorted { $0.0 < $1.0 }
    }
}

struct TarHeader {
    enum Kind: UInt8 {
        case file = 0x30, hardlink = 0x31, symlink = 0x32, characterDevice = 0x33, blockDevice = 0x34, directory = 0x35, fifo = 0x36
    }
    var name: String
    var type: Kind
    var mode: UInt32
    var uid: Int64 = 0
    var gid: Int64 = 0
    var size: Int64 = 0
    var mtime: Int64
    var linkName = ""
    var major: UInt32 = 0
    var minor: UInt32 = 0
    var xattrs: [(String, [UInt8])] = []

    init(name: String, type: Kind, mode: UInt32, mtime: Int64) {
        self.name = name; self.type = type; self.mode = mode; self.mtime = mtime
    }
}

/// POSIX.1-2001 (PAX) tar: a ustar header per entry, preceded by an extended header when a
/// name, link name or number does not fit, or for xattrs (`SCHILY.xattr.NAME`, as GNU tar, Go's
/// archive/tar and libarchive write them).
struct TarWriter {
    let out: CompressedFile
    init(_ out: CompressedFile) { self.out = out }

    mutating func add(_ h: TarHeader) throws(CacheError) {
        var records: [UInt8] = []
        func record(_ key: String, _ value: [UInt8]) {
            let body = Array(" \(key)=".utf8) + value + [0x0A]
            var length = body.count + 1
            while String(length).utf8.count + body.count != length { length = String(length).utf8.count + body.count }
            records += Array(String(length).utf8) + body
        }
        let maxOctal7: Int64 = 0o7777777, maxOctal11: Int64 = 0o77777777777
        if h.name.utf8.count > 100 || !h.name.utf8.allSatisfy({ $0 < 0x80 }) { record("path", Array(h.name.utf8)) }
        if h.linkName.utf8.count > 100 || !h.linkName.utf8.allSatisfy({ $0 < 0x80 }) { record("linkpath", Array(h.linkName.utf8)) }
        if h.uid > maxOctal7 { record("uid", Array(String(h.uid).utf8)) }
        if h.gid > maxOctal7 { record("gid", Array(String(h.gid).utf8)) }
        if h.size > maxOctal11 { record("size", Array(String(h.size).utf8)) }
        if h.mtime < 0 || h.mtime > maxOctal11 { record("mtime", Array(String(h.mtime).utf8)) }
        for (key, value) in h.xattrs { record("SCHILY.xattr." + key, value) }
        if !records.isEmpty {
            var pax = TarHeader(
                name: "PaxHeaders/" + String(h.name.utf8.suffix(80).filter { $0 != 0x2F }.map { Character(Unicode.Scalar($0)) }),
                type: .file, mode: 0o644, mtime: max(0, min(h.mtime, maxOctal11)))
            pax.size = Int64(records.count)
            try out.write(block(pax, typeflag: 0x78))
            try out.write(records)
            try pad(records.count)
        }
        try out.write(block(h, typeflag: h.type.rawValue))
    }

    func block(_ h: TarHeader, typeflag: UInt8) -> [UInt8] {
        var b = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: some Collection<UInt8>, at offset: Int, width: Int) {
            for (i, byte) in bytes.prefix(width).enumerated() { b[offset + i] = byte }
        }
        func octal(_ value: Int64, at offset: Int, width: Int) {
            let clamped = max(0, min(value, (Int64(1) << (3 * Int64(width - 1))) - 1))
            let digits = String(clamped, radix: 8)
            put(Array((String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits).utf8), at: offset, width: width - 1)
        }
        put(h.name.utf8, at: 0, width: 100)
        octal(Int64(h.mode), at: 100, width: 8)
        octal(h.uid, at: 108, width: 8)
        octal(h.gid, at: 116, width: 8)
        octal(typeflag == 0x30 || typeflag == 0x78 ? h.size : 0, at: 124, width: 12)
        octal(h.mtime, at: 136, width: 12)
        b[156] = typeflag
        put(h.linkName.utf8, at: 157, width: 100)
        put("ustar\0".utf8, at: 257, width: 6)
        put("00".utf8, at: 263, width: 2)
        octal(Int64(h.major), at: 329, width: 8)
        octal(Int64(h.minor), at: 337, width: 8)
        for i in 148..<156 { b[i] = 0x20 }
        let sum = b.reduce(0) { $0 + Int64($1) }
        octal(sum, at: 148, width: 7)
        return b
    }

    func pad(_ count: Int) throws(CacheError) {
        let rest = (512 - count % 512) % 512
        if rest > 0 { try out.write([UInt8](repeating: 0, count: rest)) }
    }

    /// A regular file's bytes (exactly `size`: a file that changed size meanwhile is an error).
    func copyContent(of path: String, size: Int64) throws(CacheError) {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw .io("open", path) }
        defer { close(fd) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        while done < size {
            let n = read(fd, buffer.baseAddress, Int(min(Int64(buffer.count), size - done)))
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw .io("read", path) }
            guard n > 0 else { throw CacheError("\(path): the file shrank while it was archived") }
            try out.write(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            done += Int64(n)
        }
        try pad(Int(size % 512))
    }

    func finish() throws(CacheError) { try out.write([UInt8](repeating: 0, count: 1024)) }
}

/// glibc's major/minor/makedev (macros Swift does not import).
enum DeviceNumber {
    static func split(_ dev: dev_t) -> (UInt32, UInt32) {
        let d = UInt64(dev)
        return (UInt32(((d >> 8) & 0xfff) | ((d >> 32) & 0xffff_f000)), UInt32((d & 0xff) | ((d >> 12) & 0xffff_ff00)))
    }

    static func make(_ major: UInt32, _ minor: UInt32) -> dev_t {
        let ma = UInt64(major), mi = UInt64(minor)
        return dev_t(((ma & 0xfffff000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffffff00) << 12) | (mi & 0xff))
    }
}
