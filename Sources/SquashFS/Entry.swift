// What the writer is given: entries of a root filesystem with their metadata. Paths are byte
// strings (names need not be UTF-8), relative to the root, components separated by "/".

/// An extended attribute (`security.capability`, `user.foo`, ...).
public struct ExtendedAttribute: Sendable, Hashable {
    public var name: [UInt8]
    public var value: [UInt8]
    public init(name: [UInt8], value: [UInt8]) { self.name = name; self.value = value }
    public init(name: String, value: [UInt8]) { self.name = Array(name.utf8); self.value = value }
}

/// Ownership, permissions, time and xattrs of an entry.
public struct EntryMetadata: Sendable, Hashable {
    /// Permission bits including setuid, setgid and sticky (`mode & 0o7777`).
    public var permissions: UInt16
    public var uid: UInt32
    public var gid: UInt32
    /// Modification time, seconds since the epoch.
    public var mtime: Int64
    public var xattrs: [ExtendedAttribute]

    public init(permissions: UInt16, uid: UInt32 = 0, gid: UInt32 = 0, mtime: Int64 = 0, xattrs: [ExtendedAttribute] = []) {
        self.permissions = permissions & 0o7777; self.uid = uid; self.gid = gid; self.mtime = mtime; self.xattrs = xattrs
    }

    public static let defaultDirectory = EntryMetadata(permissions: 0o755)
}

/// Entry kinds other than regular files (whose content is streamed separately).
public enum SpecialEntry: Sendable, Hashable {
    case directory
    case symlink(target: [UInt8])
    case characterDevice(major: UInt32, minor: UInt32)
    case blockDevice(major: UInt32, minor: UInt32)
    case fifo
    case socket
}

/// A path split into components; rejects empty, `.` and `..` components.
public struct EntryPath: Sendable, Hashable, CustomStringConvertible {
    public let components: [[UInt8]]

    public init(_ bytes: [UInt8]) throws(SquashFSError) {
        var parts: [[UInt8]] = []
        for part in bytes.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.elementsEqual([UInt8(ascii: ".")]) { continue }
            if part.elementsEqual([UInt8(ascii: "."), UInt8(ascii: ".")]) {
                throw .invalidTree(path: String(decoding: bytes, as: UTF8.self), reason: "path contains '..'")
            }
            guard part.count <= Format.maxNameLength else {
                throw .invalidTree(path: String(decoding: bytes, as: UTF8.self), reason: "name longer than 256 bytes")
            }
            parts.append(Array(part))
        }
        components = parts
    }

    public init(_ string: String) throws(SquashFSError) { try self.init(Array(string.utf8)) }

    public var isRoot: Bool { components.isEmpty }
    public var description: String {
        "/" + components.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "/")
    }
}
