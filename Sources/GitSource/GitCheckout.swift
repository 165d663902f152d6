// The objects of a fetched pack read as git reads them (commit headers, tree entries) and a
// tree written out as a checkout. Names and symlink targets are kept as the bytes git stores:
// git does not normalise them, so neither does the checkout (two spellings of one accented
// name are two files, a Latin-1 name stays Latin-1).
import Foundation

extension GitFetch {
    struct Object {
        var type: Int  // 1 commit, 2 tree, 3 blob, 4 tag
        var data: [UInt8]
    }

    static func object(_ objects: PackFile, _ id: String, what: String) throws -> Object {
        guard let o = try objects.object(id) else { throw GitError("the server's pack lacks \(what) \(id)") }
        return o
    }

    static func header(_ data: [UInt8], _ name: String) -> String? {
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty { break }
            if line.hasPrefix(name + " ") { return String(line.dropFirst(name.count + 1)) }
        }
        return nil
    }

    /// One entry of a tree: its mode, its name's bytes, and its object id.
    struct TreeEntry {
        var mode: String
        var raw: [UInt8]
        var id: String
        /// The name for lookups and messages (invalid UTF-8 shown as U+FFFD).
        var name: String { String(decoding: raw, as: UTF8.self) }
    }

    static func treeEntries(_ objects: PackFile, _ id: String) throws -> [TreeEntry] {
        let tree = try object(objects, id, what: "tree")
        guard tree.type == 2 else { throw GitError("\(id) is not a tree") }
        var out: [TreeEntry] = []
        var names = Set<[UInt8]>()
        let d = tree.data
        var i = 0
        while i < d.count {
            guard let space = d[i...].firstIndex(of: 0x20), let nul = d[space...].firstIndex(of: 0), nul + 21 <= d.count else {
                throw GitError("malformed tree \(id)")
            }
            let mode = String(decoding: d[i..<space], as: UTF8.self)
            let raw = Array(d[space + 1..<nul])
            let oid = Array(d[nul + 1..<nul + 21]).hexString
            guard !raw.isEmpty, raw != [0x2e], raw != [0x2e, 0x2e], !raw.contains(0x2f), raw != Array(".git".utf8) else {
                throw GitError("tree \(id) has an entry named \"\(String(decoding: raw, as: UTF8.self))\", which no checkout writes")
            }
            // A name twice (say a symlink `a` and a directory `a`) would let the checkout write
            // through the symlink; git fsck refuses such trees too. Bytes are compared, as the
            // filesystem compares them (Swift's String equality would join NFC and NFD).
            guard names.insert(raw).inserted else {
                throw GitError("tree \(id) has the entry \"\(String(decoding: raw, as: UTF8.self))\" twice")
            }
            out.append(TreeEntry(mode: mode, raw: raw, id: oid))
            i = nul + 21
        }
        return out
    }

    /// Linux's PATH_MAX: a symlink's target is shorter.
    static let pathMax = 4096

    /// Writes a tree into `directory`. Every entry is created new (mkdir, O_EXCL, symlink fail on
    /// anything already there), so no directory written into can be a symlink the tree planted.
    static func write(_ objects: PackFile, tree: String, to directory: String, time: Int64) throws {
        try write(objects, tree: tree, to: Array(directory.utf8), time: time)
    }

    static func write(_ objects: PackFile, tree: String, to directory: [UInt8], time: Int64) throws {
        var times = [timespec(tv_sec: Int(time), tv_nsec: 0), timespec(tv_sec: Int(time), tv_nsec: 0)]
        for e in try treeEntries(objects, tree) {
            let path = directory + [0x2f] + e.raw
            let shown = String(decoding: path, as: UTF8.self)
            let cPath = path.map { CChar(bitPattern: $0) } + [0]
            switch e.mode {
            case "40000":
                guard mkdir(cPath, 0o755) == 0 else { throw GitError(.system(operation: "mkdir", path: shown, errno: errno)) }
                try write(objects, tree: e.id, to: path, time: time)
            case "160000":
                guard mkdir(cPath, 0o755) == 0 else { throw GitError(.system(operation: "mkdir", path: shown, errno: errno)) }
            case "120000":
                // The size is known before the target is built: no link can be longer than
                // PATH_MAX, and a hostile one of a gigabyte is not inflated to find that out.
                guard let info = objects.info(e.id) else { throw GitError("the server's pack lacks symlink \(e.id)") }
                guard info.size < Self.pathMax else {
                    throw GitError(
                        "tree \(tree): the symlink \(e.name) has a target of \(info.size) bytes, longer than PATH_MAX (\(Self.pathMax)) allows"
                    )
                }
                let blob = try object(objects, e.id, what: "symlink")
                guard !blob.data.contains(0) else { throw GitError("tree \(tree): the symlink \(e.name) has a NUL byte in its target") }
                guard symlink(blob.data.map { CChar(bitPattern: $0) } + [0], cPath) == 0 else {
                    throw GitError(.system(operation: "symlink", path: shown, errno: errno))
                }
            case "100644", "100755", "100664":
                guard let info = objects.info(e.id) else { throw GitError("the server's pack lacks file \(e.id)") }
                guard info.type == 3 else { throw GitError("\(e.id) is not a blob") }
                let fd = open(cPath, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, e.mode == "100755" ? 0o755 : 0o644)
                guard fd >= 0 else { throw GitError(.system(operation: "create", path: shown, errno: errno)) }
                defer { close(fd) }
                try objects.writeBlob(e.id, to: fd, path: shown)
                fchmod(fd, e.mode == "100755" ? 0o755 : 0o644)
            default:
                throw GitError("tree \(tree): entry \(e.name) has mode \(e.mode)")
            }
            utimensat(AT_FDCWD, cPath, &times, AT_SYMLINK_NOFOLLOW)
        }
        utimensat(AT_FDCWD, directory.map { CChar(bitPattern: $0) } + [0], &times, AT_SYMLINK_NOFOLLOW)
    }
}
