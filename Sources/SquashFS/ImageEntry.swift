// One entry of a squashfs image as the reader lists it (`gvmc inspect --list`, image lint rules).

/// One entry of an image, as `unsquashfs -lls` lists it.
public struct ImageEntry: Sendable {
    /// The type of the entry.
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

    public init(
        path: String, kind: Kind, permissions: UInt16, uid: UInt32, gid: UInt32, mtime: UInt32, size: UInt64,
        symlinkTarget: String? = nil, device: (major: UInt32, minor: UInt32)? = nil, nlink: UInt32 = 1,
        inodeNumber: UInt32 = 0
    ) {
        self.init(
            rawPath: Array(path.utf8), kind: kind, permissions: permissions, uid: uid, gid: gid, mtime: mtime, size: size,
            rawSymlinkTarget: symlinkTarget.map { Array($0.utf8) }, device: device, nlink: nlink, inodeNumber: inodeNumber)
    }

    public init(
        rawPath: [UInt8], kind: Kind, permissions: UInt16, uid: UInt32, gid: UInt32, mtime: UInt32, size: UInt64,
        rawSymlinkTarget: [UInt8]? = nil, device: (major: UInt32, minor: UInt32)? = nil, nlink: UInt32 = 1,
        inodeNumber: UInt32 = 0
    ) {
        self.rawPath = rawPath; self.kind = kind; self.permissions = permissions; self.uid = uid; self.gid = gid
        self.mtime = mtime; self.size = size; self.rawSymlinkTarget = rawSymlinkTarget; self.device = device
        self.nlink = nlink; self.inodeNumber = inodeNumber
    }
}

/// A name from an image made safe to print on one line, as `ls -b` does: C escapes for \\,
/// \a \b \t \n \v \f \r, three-digit octal for every other control byte (ESC is \033) and for
/// bytes that are not UTF-8, so a name cannot forge a line or reach the terminal as a control
/// sequence, and distinct names stay distinct. Printable UTF-8 is kept as is, except Unicode
/// controls and format characters (a right-to-left override, line separators) in octal too.
public func escapedName(_ bytes: [UInt8]) -> String {
    var out = ""
    func octal(_ b: UInt8) {
        out += "\\" + String(b >> 6) + String((b >> 3) & 7) + String(b & 7)
    }
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        if b < 0x80 {
            switch b {
            case 0x5C: out += "\\\\"
            case 0x07: out += "\\a"
            case 0x08: out += "\\b"
            case 0x09: out += "\\t"
            case 0x0A: out += "\\n"
            case 0x0B: out += "\\v"
            case 0x0C: out += "\\f"
            case 0x0D: out += "\\r"
            case 0x20...0x7E: out.unicodeScalars.append(Unicode.Scalar(b))
            default: octal(b)
            }
            i += 1
            continue
        }
        // One UTF-8 sequence, validated strictly: a stray, cut or overlong byte is escaped alone.
        let length = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
        if i + length <= bytes.count, let text = String(validating: bytes[i..<(i + length)], as: UTF8.self),
            let scalar = text.unicodeScalars.first
        {
            switch scalar.properties.generalCategory {
            case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .unassigned, .surrogate:
                for byte in bytes[i..<(i + length)] { octal(byte) }
            default:
                out.unicodeScalars.append(scalar)
            }
            i += length
        } else {
            octal(b)
            i += 1
        }
    }
    return out
}

extension ImageEntry {
    /// The path made safe to print on one line (see escapedName).
    public var printablePath: String { escapedName(rawPath) }
}
