// One entry of a squashfs image as the reader lists it (`gvmc inspect --list`, image lint rules).

/// One entry of an image, as `unsquashfs -lls` lists it.
public struct ImageEntry: Sendable {
    public enum Kind: String, Sendable { case directory, file, symlink, blockDevice, characterDevice, fifo, socket }
    /// The path exactly as stored: squashfs names are bytes, not necessarily UTF-8.
    public var rawPath: [UInt8]
    public var kind: Kind
    public var permissions: UInt16
    public var uid: UInt32
    public var gid: UInt32
    public var mtime: UInt32
    public var size: UInt64
    /// The symlink target exactly as stored.
    public var rawSymlinkTarget: [UInt8]?
    public var device: (major: UInt32, minor: UInt32)?
    public var nlink: UInt32
    public var inodeNumber: UInt32

    /// The path for matching and messages (invalid UTF-8 shows as U+FFFD; print `rawPath` escaped).
    public var path: String {
        get { String(decoding: rawPath, as: UTF8.self) }
        set { rawPath = Array(newValue.utf8) }
    }

    public var symlinkTarget: String? {
        get { rawSymlinkTarget.map { String(decoding: $0, as: UTF8.self) } }
        set { rawSymlinkTarget = newValue.map { Array($0.utf8) } }
    }

    public init(path: String, kind: Kind, permissions: UInt16, uid: UInt32, gid: UInt32, mtime: UInt32, size: UInt64,
                symlinkTarget: String? = nil, device: (major: UInt32, minor: UInt32)? = nil, nlink: UInt32 = 1,
                inodeNumber: UInt32 = 0) {
        self.init(rawPath: Array(path.utf8), kind: kind, permissions: permissions, uid: uid, gid: gid, mtime: mtime, size: size,
                  rawSymlinkTarget: symlinkTarget.map { Array($0.utf8) }, device: device, nlink: nlink, inodeNumber: inodeNumber)
    }

    public init(rawPath: [UInt8], kind: Kind, permissions: UInt16, uid: UInt32, gid: UInt32, mtime: UInt32, size: UInt64,
                rawSymlinkTarget: [UInt8]? = nil, device: (major: UInt32, minor: UInt32)? = nil, nlink: UInt32 = 1,
                inodeNumber: UInt32 = 0) {
        self.rawPath = rawPath; self.kind = kind; self.permissions = permissions; self.uid = uid; self.gid = gid
        self.mtime = mtime; self.size = size; self.rawSymlinkTarget = rawSymlinkTarget; self.device = device
        self.nlink = nlink; self.inodeNumber = inodeNumber
    }
}
