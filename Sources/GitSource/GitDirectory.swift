// `ADD --keep-git-dir=true <git URL> /dir`: the `.git` directory BuildKit leaves beside the
// checkout, written from the fetched pack without a git binary. What BuildKit's own sequence
// (`git init`, `git fetch --depth=1 origin <ref>:<ref>`, `git checkout FETCH_HEAD`,
// `git remote set-url origin <url>`, reflogs expired) leaves behind, and git's formats:
//
//   HEAD                        the commit id: a detached HEAD
//   config                      core settings, and remote "origin" with the URL and git's
//                               default fetch refspec
//   shallow                     the commits whose parents were not fetched (depth 1)
//   refs/heads/<branch> or      the fetched branch or tag (none for a commit id)
//   refs/tags/<tag>
//   objects/pack/pack-<h>.pack  the server's pack as received (its trailer checksum is <h>)
//   objects/pack/pack-<h>.idx   its index, version 2 (gitformat-pack(5))
//   index                       the staging area matching the checkout (gitformat-index(5),
//                               version 2), so `git status` shows a clean tree
//
// Stat fields in the index are the commit time and zeros, the same on every build; git checks
// the content of entries whose stat data differs, so a checkout is still clean.
import CZlib
import Crypto
import Foundation
import SquashFS

struct GitDirectory {
    let pack: PackFile
    let shallow: [String]
    let commit: String
    let tree: String
    /// The local ref to create: its full name and the object id it names.
    let ref: (name: String, id: String)?
    let remote: String
    let time: Int64

    func write(to gitDir: String) throws {
        let packName = "pack-" + pack.checksum.hexString
        var files: [(String, UnsafeBufferPointer<UInt8>?, [UInt8], mode_t)] = [
            ("HEAD", nil, Array((commit + "\n").utf8), 0o644),
            (
                "config", nil,
                Array(
                    """
                    [core]
                    \trepositoryformatversion = 0
                    \tfilemode = true
                    \tbare = false
                    \tlogallrefupdates = true
                    [remote "origin"]
                    \turl = \(remote)
                    \tfetch = +refs/heads/*:refs/remotes/origin/*

                    """.utf8), 0o644
            ),
            ("objects/pack/" + packName + ".pack", pack.bytes, [], 0o444),
            ("objects/pack/" + packName + ".idx", nil, try packIndex(), 0o444),
            ("index", nil, try stagingIndex(), 0o644)
        ]
        if !shallow.isEmpty { files.append(("shallow", nil, Array(shallow.sorted().map { $0 + "\n" }.joined().utf8), 0o644)) }
        if let ref {
            guard ref.name.hasPrefix("refs/"), !ref.name.split(separator: "/").contains(where: { $0 == ".." || $0 == "." }) else {
                throw GitError("the ref \(ref.name) cannot be written into .git")
            }
            files.append((ref.name, nil, Array((ref.id + "\n").utf8), 0o644))
        }
        var directories = ["", "objects", "objects/info", "objects/pack", "refs", "refs/heads", "refs/tags"]
        for (path, _, _, _) in files {
            var parent = (path as NSString).deletingLastPathComponent
            while !parent.isEmpty && !directories.contains(parent) {
                directories.append(parent)
                parent = (parent as NSString).deletingLastPathComponent
            }
        }
        directories.sort { $0.count < $1.count }
        for d in directories {
            let path = d.isEmpty ? gitDir : gitDir + "/" + d
            guard mkdir(path, 0o755) == 0 || errno == EEXIST else { throw GitError(.system(operation: "mkdir", path: path, errno: errno)) }
        }
        var times = [timespec(tv_sec: Int(time), tv_nsec: 0), timespec(tv_sec: Int(time), tv_nsec: 0)]
        for (path, mapped, array, mode) in files {
            let full = gitDir + "/" + path
            let fd = open(full, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw GitError(.system(operation: "create", path: full, errno: errno)) }
            defer { close(fd) }
            func put(_ bytes: UnsafeRawBufferPointer) throws {
                if let problem = writeAll(fd, bytes) { throw GitError("write \(full): \(problem)") }
            }
            if let mapped { try put(UnsafeRawBufferPointer(mapped)) } else { try array.withUnsafeBytes { try put($0) } }
            fchmod(fd, mode)
            futimens(fd, &times)
        }
        for d in directories.reversed() {
            utimensat(AT_FDCWD, d.isEmpty ? gitDir : gitDir + "/" + d, &times, AT_SYMLINK_NOFOLLOW)
        }
    }

    /// The pack index, version 2: a fan-out table, the sorted object names, their CRC-32s and
    /// offsets (31-bit, or an index into a table of 64-bit ones), the pack's checksum and the
    /// index's own SHA-1.
    func packIndex() throws -> [UInt8] {
        let sorted = try pack.entries().map { e in (name: try raw(e.id), e) }.sorted { $0.name.lexicographicallyPrecedes($1.name) }
        var out: [UInt8] = [0xff, 0x74, 0x4f, 0x63, 0, 0, 0, 2]
        var fanout = [UInt32](repeating: 0, count: 256)
        for s in sorted { fanout[Int(s.name[0])] += 1 }
        var total: UInt32 = 0
        for b in 0..<256 { total += fanout[b]; be32(&out, total) }
        for s in sorted { out += s.name }
        for s in sorted { be32(&out, s.1.crc) }
        var large: [UInt64] = []
        for s in sorted {
            if s.1.offset < 0x8000_0000 {
                be32(&out, UInt32(s.1.offset))
            } else {
                be32(&out, 0x8000_0000 | UInt32(large.count))
                large.append(UInt64(s.1.offset))
            }
        }
        for l in large { be32(&out, UInt32(l >> 32)); be32(&out, UInt32(l & 0xffff_ffff)) }
        out += pack.checksum
        out += Array(Insecure.SHA1.hash(data: out))
        return out
    }

    /// The staging area (index version 2) of the commit's whole tree: one entry per file,
    /// symlink and submodule, sorted by path bytes.
    func stagingIndex() throws -> [UInt8] {
        var items: [(path: [UInt8], mode: UInt32, id: String, size: Int)] = []
        func walk(_ tree: String, _ prefix: [UInt8]) throws {
            for e in try GitFetch.treeEntries(pack, tree) {
                let path = prefix + e.raw
                switch e.mode {
                case "40000": try walk(e.id, path + [0x2f])
                case "160000": items.append((path, 0o160000, e.id, 0))
                default:
                    guard let info = pack.info(e.id) else { throw GitError("the server's pack lacks \(e.id)") }
                    items.append((path, e.mode == "120000" ? 0o120000 : e.mode == "100755" ? 0o100755 : 0o100644, e.id, info.size))
                }
            }
        }
        try walk(tree, [])
        items.sort { $0.path.lexicographicallyPrecedes($1.path) }
        var out: [UInt8] = Array("DIRC".utf8)
        be32(&out, 2)
        be32(&out, UInt32(items.count))
        for item in items {
            let start = out.count
            for value in [
                UInt32(truncatingIfNeeded: time), 0, UInt32(truncatingIfNeeded: time), 0, 0, 0, item.mode, 0, 0,
                UInt32(truncatingIfNeeded: item.size)
            ] {
                be32(&out, value)  // ctime, mtime (seconds, nanoseconds), dev, ino, mode, uid, gid, size
            }
            out += try raw(item.id)
            let flags = UInt16(min(item.path.count, 0xfff))
            out += [UInt8(flags >> 8), UInt8(flags & 0xff)]
            out += item.path
            // NUL-terminated and padded to a multiple of eight bytes.
            repeat { out.append(0) } while (out.count - start) % 8 != 0
        }
        out += Array(Insecure.SHA1.hash(data: out))
        return out
    }

    func raw(_ id: String) throws -> [UInt8] {
        let chars = Array(id.utf8)
        guard chars.count == 40 else { throw GitError("malformed object id \(id)") }
        return try stride(from: 0, to: 40, by: 2).map { i in
            guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else {
                throw GitError("malformed object id \(id)")
            }
            return b
        }
    }

    func be32(_ out: inout [UInt8], _ v: UInt32) { out += [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }
}
