// COPY/ADD --chmod: an octal mode (0755) or symbolic clauses (u=rwX,go=rX / +x / a-w), applied
// per copied entry like chmod(1): `X` adds execute for directories and already-executable files.

/// A parsed `--chmod` value (octal or symbolic), applied to each copied entry.
public struct ModeChange: Sendable, Equatable {
    enum Op: Character, Sendable { case add = "+", remove = "-", set = "=" }
    struct Clause: Sendable, Equatable {
        var who: UInt32  // mask of the u/g/o permission bits the clause touches
        var op: Op
        var perms: String  // letters from rwxXst
    }
    let octal: UInt32?
    let clauses: [Clause]

    public init(_ text: String) throws(ExecutorError) {
        if let v = UInt32(text, radix: 8), text.allSatisfy({ $0 >= "0" && $0 <= "7" }) {
            guard v <= 0o7777 else { throw ExecutorError("invalid --chmod \(text): octal modes go up to 7777") }
            octal = v; clauses = []
            return
        }
        var result: [Clause] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let opIndex = part.firstIndex(where: { "+-=".contains($0) }) else {
                throw ExecutorError("invalid --chmod \(text): \"\(part)\" needs +, - or =")
            }
            var who: UInt32 = 0
            for c in part[..<opIndex] {
                switch c {
                case "u": who |= 0o4700
                case "g": who |= 0o2070
                case "o": who |= 0o1007
                case "a": who |= 0o7777
                default: throw ExecutorError("invalid --chmod \(text): unknown class \"\(c)\" (use u, g, o, a)")
                }
            }
            if who == 0 { who = 0o7777 }
            let perms = String(part[part.index(after: opIndex)...])
            guard perms.allSatisfy({ "rwxXst".contains($0) }) else {
                throw ExecutorError("invalid --chmod \(text): unknown permission in \"\(perms)\" (use r, w, x, X, s, t)")
            }
            result.append(Clause(who: who, op: Op(rawValue: part[opIndex])!, perms: perms))
        }
        octal = nil; clauses = result
    }

    /// The new permission bits for an entry with `mode` (permission bits) that is a directory or not.
    public func apply(to mode: UInt32, isDirectory: Bool) -> UInt32 {
        if let octal { return octal }
        var m = mode & 0o7777
        for c in clauses {
            var bits: UInt32 = 0
            for p in c.perms {
                switch p {
                case "r": bits |= 0o444
                case "w": bits |= 0o222
                case "x": bits |= 0o111
                // As chmod(1): on the mode the earlier clauses made (`u-x,+X` on 0700 is 0600).
                case "X": if isDirectory || m & 0o111 != 0 { bits |= 0o111 }
                case "s": bits |= 0o6000
                case "t": bits |= 0o1000
                default: break
                }
            }
            bits &= c.who
            switch c.op {
            case .add: m |= bits
            case .remove: m &= ~bits
            case .set: m = (m & ~(c.who & 0o777)) | bits
            }
        }
        return m
    }
}
