// The exec form: `["a", "b"]` decoded exactly like Go's encoding/json into []any, so that the
// fallback to shell form (invalid JSON) and the hard error (valid JSON, non-string element)
// happen on the same inputs as in BuildKit.

enum JSONArrayResult {
    case strings([String])
    /// Valid JSON, but an element is not a string: BuildKit's hard error.
    case notStringArray
    /// Not valid JSON (or not an array): the caller falls back to shell form.
    case invalid
}

struct JSONArrayDecoder {
    private let b: ArraySlice<UInt8>
    private var i: Int
    private var depth = 0

    static func decode(_ text: ArraySlice<UInt8>) -> JSONArrayResult {
        var d = JSONArrayDecoder(b: text, i: text.startIndex)
        return d.run()
    }

    private init(b: ArraySlice<UInt8>, i: Int) { self.b = b; self.i = i }

    private mutating func run() -> JSONArrayResult {
        skipWS()
        guard i < b.endIndex, b[i] == UInt8(ascii: "[") else { return .invalid }
        i += 1
        var elements: [String?] = []  // nil: a non-string element
        skipWS()
        if i < b.endIndex && b[i] == UInt8(ascii: "]") {
            i += 1
        } else {
            while true {
                skipWS()
                guard i < b.endIndex else { return .invalid }
                if b[i] == UInt8(ascii: "\"") {
                    guard let s = string() else { return .invalid }
                    elements.append(s)
                } else {
                    guard value() else { return .invalid }
                    elements.append(nil)
                }
                skipWS()
                guard i < b.endIndex else { return .invalid }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; break }
                return .invalid
            }
        }
        skipWS()
        guard i == b.endIndex else { return .invalid }
        var out: [String] = []
        out.reserveCapacity(elements.count)
        for e in elements {
            guard let e else { return .notStringArray }
            out.append(e)
        }
        return .strings(out)
    }

    private mutating func skipWS() {
        while i < b.endIndex {
            let c = b[i]
            if c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 } else { break }
        }
    }

    /// Validates any JSON value (used for non-string elements).
    private mutating func value() -> Bool {
        guard i < b.endIndex else { return false }
        switch b[i] {
        case UInt8(ascii: "\""): return string() != nil
        case UInt8(ascii: "["):
            depth += 1
            guard depth < 10000 else { return false }
            defer { depth -= 1 }
            i += 1; skipWS()
            if i < b.endIndex && b[i] == UInt8(ascii: "]") { i += 1; return true }
            while true {
                skipWS()
                guard value() else { return false }
                skipWS()
                guard i < b.endIndex else { return false }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "{"):
            depth += 1
            guard depth < 10000 else { return false }
            defer { depth -= 1 }
            i += 1; skipWS()
            if i < b.endIndex && b[i] == UInt8(ascii: "}") { i += 1; return true }
            while true {
                skipWS()
                guard i < b.endIndex, b[i] == UInt8(ascii: "\""), string() != nil else { return false }
                skipWS()
                guard i < b.endIndex, b[i] == UInt8(ascii: ":") else { return false }
                i += 1; skipWS()
                guard value() else { return false }
                skipWS()
                guard i < b.endIndex else { return false }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return true }
                return false
            }
        case UInt8(ascii: "t"): return literal("true")
        case UInt8(ascii: "f"): return literal("false")
        case UInt8(ascii: "n"): return literal("null")
        default: return number()
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let n = word.utf8CodeUnitCount
        guard b.endIndex - i >= n else { return false }
        for k in 0..<n where b[i + k] != word.utf8Start[k] { return false }
        i += n
        return true
    }

    private mutating func number() -> Bool {
        func digit(_ j: Int) -> Bool { j < b.endIndex && b[j] >= 0x30 && b[j] <= 0x39 }
        if i < b.endIndex && b[i] == UInt8(ascii: "-") { i += 1 }
        guard digit(i) else { return false }
        if b[i] == 0x30 { i += 1 } else { while digit(i) { i += 1 } }
        if i < b.endIndex && b[i] == UInt8(ascii: ".") {
            i += 1
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        if i < b.endIndex && (b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E")) {
            i += 1
            if i < b.endIndex && (b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-")) { i += 1 }
            guard digit(i) else { return false }
            while digit(i) { i += 1 }
        }
        return true
    }

    private func hex4(_ j: Int) -> UInt32? {
        guard b.endIndex - j >= 4 else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 {
            let c = b[j + k]
            let d: UInt32
            switch c {
            case 0x30...0x39: d = UInt32(c - 0x30)
            case 0x41...0x46: d = UInt32(c - 0x41 + 10)
            case 0x61...0x66: d = UInt32(c - 0x61 + 10)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// Decodes a string at `i` (which holds the opening quote); invalid UTF-8 becomes U+FFFD.
    private mutating func string() -> String? {
        i += 1
        var out = String.UnicodeScalarView()
        while true {
            guard i < b.endIndex else { return nil }
            let c = b[i]
            if c == UInt8(ascii: "\"") { i += 1; return String(out) }
            if c < 0x20 { return nil }
            if c == UInt8(ascii: "\\") {
                i += 1
                guard i < b.endIndex else { return nil }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append("\"")
                case UInt8(ascii: "\\"): out.append("\\")
                case UInt8(ascii: "/"): out.append("/")
                case UInt8(ascii: "b"): out.append("\u{08}")
                case UInt8(ascii: "f"): out.append("\u{0C}")
                case UInt8(ascii: "n"): out.append("\n")
                case UInt8(ascii: "r"): out.append("\r")
                case UInt8(ascii: "t"): out.append("\t")
                case UInt8(ascii: "u"):
                    guard let u = hex4(i) else { return nil }
                    i += 4
                    if u >= 0xD800 && u < 0xDC00 {
                        // A high surrogate pairs only with a following \u low surrogate.
                        if b.endIndex - i >= 6, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u"),
                            let lo = hex4(i + 2), lo >= 0xDC00 && lo < 0xE000
                        {
                            i += 6
                            out.append(Unicode.Scalar(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00))!)
                        } else {
                            out.append("\u{FFFD}")
                        }
                    } else if let s = Unicode.Scalar(u) {
                        out.append(s)
                    } else {
                        out.append("\u{FFFD}")
                    }
                default: return nil
                }
                continue
            }
            if c < 0x80 { out.append(Unicode.Scalar(c)); i += 1; continue }
            if let (scalar, width) = decodeScalar(b, at: i) {
                out.append(scalar); i += width
            } else {
                out.append("\u{FFFD}"); i += 1
            }
        }
    }
}
