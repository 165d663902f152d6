// The initramfs gvmc hands to the kernel in --vm mode: a cpio archive in the "newc" format the
// kernel unpacks into its root tmpfs (Documentation/driver-api/early-userspace/buffer-format.rst).
// Uncompressed: the kernel takes it as is, and gvmc need not compress what it writes once per run.

/// A cpio archive in the "newc" format, built in memory (the --vm initramfs).
public struct CPIOArchive {
    public private(set) var bytes: [UInt8] = []
    private var inode: UInt32 = 1

    public init() {}

    public mutating func directory(_ path: String, mode: UInt32 = 0o755) {
        entry(path, mode: 0o040000 | mode, nlink: 2, data: [])
    }

    public mutating func file(_ path: String, _ data: [UInt8], mode: UInt32 = 0o644) {
        entry(path, mode: 0o100000 | mode, nlink: 1, data: data)
    }

    public mutating func symlink(_ path: String, target: String) {
        entry(path, mode: 0o120777, nlink: 1, data: Array(target.utf8))
    }

    /// A character device node (e.g. /dev/console 5:1, which the kernel opens for init).
    public mutating func characterDevice(_ path: String, major: UInt32, minor: UInt32, mode: UInt32 = 0o600) {
        entry(path, mode: 0o020000 | mode, nlink: 1, data: [], rdev: (major, minor))
    }

    /// The archive with its trailer, ready to be written.
    public func finished() -> [UInt8] {
        var copy = self
        copy.entry("TRAILER!!!", mode: 0, nlink: 1, data: [], counted: false)
        return copy.bytes
    }

    /// One newc record: "070701", 13 eight-digit hex fields, the name with its NUL, padding to
    /// four bytes, the data, padding to four bytes. Paths are stored without a leading slash.
    private mutating func entry(
        _ path: String, mode: UInt32, nlink: UInt32, data: [UInt8],
        rdev: (UInt32, UInt32) = (0, 0), counted: Bool = true
    ) {
        let name = Array((path.hasPrefix("/") ? String(path.dropFirst()) : path).utf8) + [0]
        let fields: [UInt32] = [counted ? inode : 0, mode, 0, 0, nlink, 0, UInt32(data.count), 0, 0, rdev.0, rdev.1, UInt32(name.count), 0]
        if counted { inode += 1 }
        bytes += Array("070701".utf8)
        for f in fields {
            let hex = String(f, radix: 16)
            bytes += Array((String(repeating: "0", count: 8 - hex.count) + hex).utf8)
        }
        bytes += name
        pad()
        bytes += data
        pad()
    }

    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}
