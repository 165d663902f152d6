// Value syntaxes BuildKit takes from Go libraries: durations, byte sizes, booleans, CSV fields,
import DockerfileSyntax
// and the "did you mean" suggestions.

enum GoValues {
    /// `time.ParseDuration`, in nanoseconds.
    static func duration(_ s: String) -> Int64? {
        let b = Array(s.utf8)
        var i = 0
        var negative = false
        if i < b.count && (b[i] == UInt8(ascii: "-") || b[i] == UInt8(ascii: "+")) {
            negative = b[i] == UInt8(ascii: "-"); i += 1
        }
        if b.count - i == 1 && b[i] == UInt8(ascii: "0") { return 0 }
        guard i < b.count else { return nil }
        func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
        var total: Double = 0
        while i < b.count {
            var value: Double = 0
            var sawDigits = false
            while i < b.count && isDigit(b[i]) { value = value * 10 + Double(b[i] - 0x30); i += 1; sawDigits = true }
            if i < b.count && b[i] == UInt8(ascii: ".") {
                i += 1
                var scale = 0.1
                while i < b.count && isDigit(b[i]) { value += Double(b[i] - 0x30) * scale; scale /= 10; i += 1; sawDigits = true }
            }
            guard sawDigits else { return nil }
            let unitStart = i
            while i < b.count && b[i] != UInt8(ascii: ".") && !isDigit(b[i]) { i += 1 }
            let multiplier: Double
            switch String(decoding: b[unitStart..<i], as: UTF8.self) {
            case "ns": multiplier = 1
            case "us", "\u{00B5}s", "\u{03BC}s": multiplier = 1_000
            case "ms": multiplier = 1_000_000
            case "s": multiplier = 1_000_000_000
            case "m": multiplier = 60_000_000_000
            case "h": multiplier = 3_600_000_000_000
            default: return nil
            }
            total += value * multiplier
            guard total <= Double(Int64.max) else { return nil }
        }
        return Int64(negative ? -total : total)
    }

    /// `strconv.ParseBool`.
    static func bool(_ s: String) -> Bool? {
        switch s {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default: return nil
        }
    }

    /// `units.RAMInBytes`: `64m`, `1.5GiB`, `512k` (binary multiples).
    static func ramInBytes(_ s: String) -> Int64? {
        let chars = Array(s)
        var i = 0
        var number = ""
        while i < chars.count, chars[i].isASCII, chars[i].isNumber || chars[i] == "." { number.append(chars[i]); i += 1 }
        guard let value = Double(number), !number.hasPrefix("."), !number.hasSuffix(".") else { return nil }
        if i < chars.count && chars[i] == " " { i += 1 }
        var rest = String(chars[i...]).lowercased()
        var multiplier: Double = 1
        if let unit = rest.first, "kmgtp".contains(unit) {
            multiplier = ["k": 1024.0, "m": 1048576, "g": 1073741824, "t": 1099511627776, "p": 1125899906842624][unit]!
            rest.removeFirst()
        }
        if rest.hasPrefix("i") { rest.removeFirst() }
        if rest.hasPrefix("b") { rest.removeFirst() }
        guard rest.isEmpty else { return nil }
        return Int64(value * multiplier)
    }

    /// Comma-separated fields with RFC 4180 double quotes (`"a,b"`, `""` for a quote).
    static func csvFields(_ s: String) throws(InstructionError) -> [String] {
        var fields: [String] = []
        let chars = Array(s.unicodeScalars)
        var i = 0
        if chars.isEmpty { return [""] }
        while true {
            var field = String.UnicodeScalarView()
            if i < chars.count && chars[i] == "\"" {
                i += 1
                while true {
                    guard i < chars.count else {
                        throw InstructionError("failed to parse csv mounts: extraneous or missing \" in quoted-field")
                    }
                    if chars[i] == "\"" {
                        if i + 1 < chars.count && chars[i + 1] == "\"" { field.append("\""); i += 2; continue }
                        i += 1
                        break
                    }
                    field.append(chars[i]); i += 1
                }
                guard i == chars.count || chars[i] == "," else {
                    throw InstructionError("failed to parse csv mounts: extraneous or missing \" in quoted-field")
                }
            } else {
                while i < chars.count && chars[i] != "," {
                    if chars[i] == "\"" { throw InstructionError("failed to parse csv mounts: bare \" in non-quoted-field") }
                    field.append(chars[i]); i += 1
                }
            }
            fields.append(String(field))
            if i >= chars.count { break }
            i += 1  // the comma
            if i == chars.count { fields.append(""); break }
        }
        return fields
    }
}

/// "Did you mean": the closest option within Levenshtein distance 2 (BuildKit's util/suggest).
public enum Suggest {
    public static func closest(to value: String, in options: [String], caseSensitive: Bool) -> String? {
        let val = caseSensitive ? value : value.lowercased()
        var best: String?
        var minDistance = 3
        for option in options.sorted() {
            let opt = caseSensitive ? option : option.lowercased()
            if val == opt { return nil }
            let d = levenshtein(Array(val.unicodeScalars), Array(opt.unicodeScalars))
            if d < minDistance {
                minDistance = d
                if caseSensitive {
                    best = opt
                } else if value == value.lowercased() {
                    best = opt.lowercased()
                } else if value == value.uppercased() {
                    best = opt.uppercased()
                } else {
                    best = opt
                }
            }
        }
        return best
    }

    public static func levenshtein(_ a: [Unicode.Scalar], _ b: [Unicode.Scalar]) -> Int {
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        var current = [Int](repeating: 0, count: b.count + 1)
        for i in 1...a.count {
            current[0] = i
            for j in 1...b.count {
                current[j] = Swift.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            swap(&previous, &current)
        }
        return previous[b.count]
    }
}
