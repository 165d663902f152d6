// `RUN --mount=type=bind|cache|tmpfs|secret|ssh,...`: BuildKit's mount options.
import DockerfileSyntax

/// One `RUN --mount=...`: its type and options.
public struct RunMount: Sendable, Equatable {
    /// The `type=` of a mount.
    public enum MountType: String, Sendable, CaseIterable { case bind, cache, tmpfs, secret, ssh }
    /// The `sharing=` of a cache mount.
    public enum Sharing: String, Sendable, CaseIterable { case shared, `private`, locked }

    public var type: MountType = .bind
    public var from: String?
    public var source: String?
    public var target: String?
    public var readOnly = true
    public var sizeLimit: Int64?
    public var id: String?
    public var sharing: Sharing?
    public var required = false
    public var env: String?
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?

    static let allKeys = [
        "type", "from", "source", "target", "readonly", "id", "sharing", "required", "size",
        "mode", "uid", "gid", "src", "dst", "destination", "ro", "rw", "readwrite", "env"
    ]

    /// Parses one `--mount` value. Without `expand` (parse time) only its shape and `from` are
    /// checked, as in BuildKit; with it (build time) every value is expanded and validated.
    public static func parse(
        _ value: String,
        expand: ((String) throws -> String)? = nil
    ) throws(InstructionError) -> RunMount {
        let fields = try GoValues.csvFields(value)
        var m = RunMount()
        var roAuto = true
        for field in fields {
            let key: String
            var value: String
            let hasValue: Bool
            if let eq = field.firstIndex(of: "=") {
                key = field[..<eq].lowercased(); value = String(field[field.index(after: eq)...]); hasValue = true
            } else {
                key = field.lowercased(); value = ""; hasValue = false
            }
            if !hasValue {
                guard expand != nil else { continue }
                switch key {
                case "readonly", "ro": m.readOnly = true; roAuto = false; continue
                case "readwrite", "rw": m.readOnly = false; roAuto = false; continue
                case "required":
                    guard m.type == .secret || m.type == .ssh else {
                        throw InstructionError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'")
                    }
                    m.required = true; continue
                default: throw InstructionError("invalid field '\(field)' must be a key=value pair")
                }
            }
            if let expand {
                do { value = try expand(value) } catch { throw InstructionError(cause: error) }
            } else if key == "from" {
                if let dollar = value.firstIndex(of: "$"), value.index(after: dollar) != value.endIndex {
                    throw InstructionError("'\(key)' doesn't support variable expansion, define alias stage instead")
                }
            } else {
                continue
            }
            switch key {
            case "type":
                guard let t = MountType(rawValue: value.lowercased()) else {
                    throw InstructionError(
                        suggesting: "unsupported mount type \(goQuoted(value))", value,
                        MountType.allCases.map(\.rawValue))
                }
                m.type = t
            case "from": m.from = value
            case "source", "src": m.source = value
            case "target", "dst", "destination": m.target = value
            case "readonly", "ro":
                guard let b = GoValues.bool(value) else { throw InstructionError("invalid value for \(key): \(value)") }
                m.readOnly = b; roAuto = false
            case "readwrite", "rw":
                guard let b = GoValues.bool(value) else { throw InstructionError("invalid value for \(key): \(value)") }
                m.readOnly = !b; roAuto = false
            case "required":
                guard m.type == .secret || m.type == .ssh else {
                    throw InstructionError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'")
                }
                guard let b = GoValues.bool(value) else { throw InstructionError("invalid value for \(key): \(value)") }
                m.required = b
            case "size":
                guard m.type == .tmpfs else {
                    throw InstructionError("unexpected key '\(key)' for mount type '\(m.type.rawValue)'")
                }
                guard let size = GoValues.ramInBytes(value) else { throw InstructionError("invalid value for \(key): \(value)") }
                m.sizeLimit = size
            case "id": m.id = value
            case "sharing":
                guard let s = Sharing(rawValue: value.lowercased()) else {
                    throw InstructionError(
                        suggesting: "unsupported sharing value \(goQuoted(value))", value,
                        Sharing.allCases.map(\.rawValue))
                }
                m.sharing = s
            case "mode":
                guard let mode = UInt32(value, radix: 8) else { throw InstructionError("invalid value \(value) for mode") }
                m.mode = mode
            case "uid":
                guard let uid = UInt32(value) else { throw InstructionError("invalid value \(value) for uid") }
                m.uid = uid
            case "gid":
                guard let gid = UInt32(value) else { throw InstructionError("invalid value \(value) for gid") }
                m.gid = gid
            case "env": m.env = value
            default:
                throw InstructionError(suggesting: "unexpected key '\(key)' in '\(field)'", key, allKeys)
            }
        }
        let fileInfoAllowed = m.type == .secret || m.type == .ssh || m.type == .cache
        if !fileInfoAllowed {
            if m.mode != nil { throw InstructionError("mode not allowed for \"\(m.type.rawValue)\" type mounts") }
            if m.uid != nil { throw InstructionError("uid not allowed for \"\(m.type.rawValue)\" type mounts") }
            if m.gid != nil { throw InstructionError("gid not allowed for \"\(m.type.rawValue)\" type mounts") }
        }
        if roAuto { m.readOnly = !(m.type == .cache || m.type == .tmpfs) }
        if m.type == .secret {
            if m.from != nil { throw InstructionError("secret mount should not have a from") }
            if m.sharing != nil { throw InstructionError("secret mount should not define sharing") }
            if m.source == nil && m.target == nil && m.id == nil {
                throw InstructionError("invalid secret mount. one of source, target required")
            }
            if m.source != nil && m.id != nil { throw InstructionError("both source and id can't be set") }
        }
        if m.sharing != nil && m.type != .cache {
            throw InstructionError("invalid cache sharing set for \(m.type.rawValue) mount")
        }
        return m
    }
}

/// Go's `%q` (BuildKit quotes values this way in its messages).
func goQuoted(_ s: String) -> String { GoQuote.quote(s) }

/// An error of the instruction layer, before a position is attached.
public struct InstructionError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The flag word the error is about, when known.
    var flagIndex: Int?
    /// The error the message was made from (a variable expansion's), when there is one.
    public var cause: (any Error)?
    public init(_ message: String, flagIndex: Int? = nil) { self.message = message; self.flagIndex = flagIndex }
    /// An error whose text is `cause`'s, keeping it.
    public init(cause: any Error) { self.message = "\(cause)"; self.cause = cause }
    init(suggesting message: String, _ value: String, _ options: [String]) {
        var m = message
        if let match = Suggest.closest(to: value, in: options, caseSensitive: true) { m += " (did you mean \(match)?)" }
        self.message = m
    }
    public var description: String { message }
}
