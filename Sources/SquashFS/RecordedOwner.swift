// What an unprivileged build cannot make on disk, recorded for the image writer.
// - Owners: in a user namespace where only root is mapped (no subordinate ids), chown to any
//   other id fails with EINVAL; the owner is recorded in the xattr `user.gvmc.owner` ("uid:gid").
// - Device nodes: no user namespace may create them; an empty file stands in, with the xattr
//   `user.gvmc.device` ("c:MAJOR:MINOR" or "b:MAJOR:MINOR").
// - Outside any user namespace (unprivileged, none could be made), every owner is recorded.
// DirectoryTreeReader with `ownerRecords` stores the recorded owner and node instead of the
// file's, and drops the xattrs.
import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Owners and device nodes an unprivileged build records in xattrs because it cannot make them.
public enum RecordedOwner {
    public static let xattrName = "user.gvmc.owner"
    public static let deviceXattrName = "user.gvmc.device"

    /// In the re-executed build when only root is mapped (`UserNamespace.Mode.single`), and in
    /// an unprivileged build outside any user namespace (where no owner can be set).
    public static let isRecording: Bool = geteuid() != 0 || getenv("GVMC_USERNS").map { String(cString: $0) == "single" } ?? false

    /// lchown, or the owner recorded when this namespace cannot represent it. Returns 0, or -1
    /// with errno.
    public static func set(_ path: UnsafePointer<CChar>, uid: UInt32, gid: UInt32) -> Int32 {
        if geteuid() != 0 { return record(path, uid: uid, gid: gid) }
        if lchown(path, uid, gid) == 0 {
            // A copied file may carry its source's record.
            if isRecording { _ = gvmc_lremovexattr(path, xattrName) }
            return 0
        }
        guard isRecording, errno == EINVAL else { return -1 }
        return record(path, uid: uid, gid: gid)
    }

    static func record(_ path: UnsafePointer<CChar>, uid: UInt32, gid: UInt32) -> Int32 {
        let text = Array("\(uid):\(gid)".utf8)
        if text.withUnsafeBytes({ gvmc_lsetxattr(path, xattrName, $0.baseAddress, $0.count) }) == 0 { return 0 }
        // user.* xattrs exist only on files and directories: a symlink's, fifo's or socket's
        // owner cannot be recorded, and stays root's.
        var st = stat()
        guard lstat(path, &st) == 0 else { return -1 }
        let type = st.st_mode & S_IFMT
        return type == S_IFREG || type == S_IFDIR ? -1 : 0
    }

    public static func set(_ path: String, uid: UInt32, gid: UInt32) -> Int32 {
        path.withCString { set($0, uid: uid, gid: gid) }
    }

    /// The owner recorded on `path`, if any.
    public static func read(_ path: String) -> (uid: UInt32, gid: UInt32)? {
        var value = [UInt8](repeating: 0, count: 32)
        let n = gvmc_lgetxattr(path, xattrName, &value, value.count)
        return n > 0 ? parse(Array(value[0..<n])) : nil
    }

    /// Stands in for a device node that cannot be made (EPERM in a user namespace): an empty
    /// file at `path` with the node recorded. Returns 0, or -1 with errno.
    public static func makeDevice(_ path: UnsafePointer<CChar>, block: Bool, major: UInt32, minor: UInt32) -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { return -1 }
        close(fd)
        let text = Array("\(block ? "b" : "c"):\(major):\(minor)".utf8)
        return text.withUnsafeBytes { gvmc_lsetxattr(path, deviceXattrName, $0.baseAddress, $0.count) }
    }

    /// A recorded device node: (block, major, minor).
    public static func parseDevice(_ value: [UInt8]) -> (block: Bool, major: UInt32, minor: UInt32)? {
        let parts = String(decoding: value, as: UTF8.self).split(separator: ":")
        guard parts.count == 3, parts[0] == "b" || parts[0] == "c", let major = UInt32(parts[1]), let minor = UInt32(parts[2]) else {
            return nil
        }
        return (parts[0] == "b", major, minor)
    }

    /// `uid:gid` from the xattr's value.
    public static func parse(_ value: [UInt8]) -> (uid: UInt32, gid: UInt32)? {
        let parts = String(decoding: value, as: UTF8.self).split(separator: ":")
        guard parts.count == 2, let uid = UInt32(parts[0]), let gid = UInt32(parts[1]) else { return nil }
        return (uid, gid)
    }
}
