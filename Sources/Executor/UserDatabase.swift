// USER and --chown names resolved through a root filesystem's /etc/passwd and /etc/group, as
// Docker does (numbers pass through; a name that is not found is an error).

/// The users and groups of a root filesystem, to resolve USER and `--chown` names to numbers.
public struct UserDatabase: Sendable {
    struct Entry { var name: String; var uid: UInt32; var gid: UInt32 }
    var users: [Entry] = []
    var groups: [(name: String, gid: UInt32, members: [String])] = []

    /// From the image whose root filesystem is `rootfs`: its files are read as a process in it
    /// would see them (ImageFiles), so an image's symlink cannot make the build read the host's
    /// accounts or a device.
    public init(rootfs: String) throws(ExecutorError) {
        func text(_ path: String) throws(ExecutorError) -> String? {
            try ImageFiles.read(path, in: rootfs).map { String(decoding: $0, as: UTF8.self) }
        }
        self.init(passwd: try text("/etc/passwd"), group: try text("/etc/group"))
    }

    /// From the texts of /etc/passwd and /etc/group (nil: the file is missing).
    public init(passwd: String?, group: String?) {
        if let text = passwd {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count >= 4, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { continue }
                users.append(Entry(name: String(f[0]), uid: uid, gid: gid))
            }
        }
        if let text = group {
            for line in text.split(separator: "\n") {
                let f = line.split(separator: ":", omittingEmptySubsequences: false)
                guard f.count >= 3, let gid = UInt32(f[2]) else { continue }
                let members = f.count > 3 ? f[3].split(separator: ",").map(String.init) : []
                groups.append((String(f[0]), gid, members))
            }
        }
    }

    /// `user[:group]` → uid, gid and the user's supplementary groups.
    public func resolve(_ spec: String) throws(ExecutorError) -> (uid: UInt32, gid: UInt32, groups: [UInt32]) {
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let userPart = parts[0]
        var uid: UInt32
        var gid: UInt32
        var name: String?
        if let n = UInt32(userPart) {
            uid = n
            let entry = users.first { $0.uid == n }
            gid = entry?.gid ?? n
            name = entry?.name
        } else {
            guard let entry = users.first(where: { $0.name == userPart }) else {
                throw ExecutorError("unable to find user \(userPart): no matching entries in passwd file")
            }
            uid = entry.uid; gid = entry.gid; name = entry.name
        }
        if parts.count == 2 {
            if let n = UInt32(parts[1]) {
                gid = n
            } else {
                guard let g = groups.first(where: { $0.name == parts[1] }) else {
                    throw ExecutorError("unable to find group \(parts[1]): no matching entries in group file")
                }
                gid = g.gid
            }
        }
        var supplementary = [gid]
        if let name { supplementary += groups.filter { $0.members.contains(name) }.map(\.gid) }
        var seen = Set<UInt32>()
        return (uid, gid, supplementary.filter { seen.insert($0).inserted })
    }
}

/// A host file's text (secrets, /proc); never for files of an image (ImageFiles.read).
func readText(_ path: String) -> String? {
    guard let f = fopen(path, "r") else { return nil }
    defer { fclose(f) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = fread(&buffer, 1, buffer.count, f)
        if n <= 0 { break }
        out += buffer[0..<n]
    }
    return String(decoding: out, as: UTF8.self)
}

#if canImport(Glibc)
import Glibc
#endif
