import CDigest

// Character classes exactly as Go's `unicode` package and BuildKit's regexps define them.
// BuildKit's parser mixes two notions of "blank"; matching them is what makes our AST identical.

enum GoChars {
    /// `unicode.IsSpace`: ASCII \t \n \v \f \r and space, U+0085, U+00A0, and the Unicode White_Space set.
    @inline(__always)
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return v == 0x20 || (v >= 0x09 && v <= 0x0D) }
        if v == 0x85 || v == 0xA0 { return true }
        return scalar.properties.isWhitespace
    }

    /// BuildKit's `reWhitespace` class `[\t\v\f\r ]` (note: no `\n`, ASCII only).
    @inline(__always)
    static func isRegexBlank(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0B || byte == 0x0C || byte == 0x0D
    }

    /// `unicode.IsLetter`: general categories Lu, Ll, Lt, Lm, Lo.
    static func isLetter(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return (v >= 0x41 && v <= 0x5A) || (v >= 0x61 && v <= 0x7A) }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `unicode.IsDigit`: general category Nd.
    static func isDigit(_ scalar: Unicode.Scalar) -> Bool {
        let v = scalar.value
        if v < 0x80 { return v >= 0x30 && v <= 0x39 }
        return scalar.properties.generalCategory == .decimalNumber
    }
}

extension ArraySlice where Element == UInt8 {
    /// Drops leading characters for which `unicode.IsSpace` holds (UTF-8 aware, like `bytes.TrimLeftFunc`).
    func trimmingLeadingGoSpace() -> ArraySlice<UInt8> {
        var i = startIndex
        while i < endIndex {
            let b = self[i]
            if b < 0x80 {
                if b == 0x20 || (b >= 0x09 && b <= 0x0D) { i += 1; continue }
                break
            }
            guard let (scalar, width) = decodeScalar(self, at: i), GoChars.isSpace(scalar) else { break }
            i += width
        }
        return self[i...]
    }

    /// Drops trailing characters for which `unicode.IsSpace` holds.
    func trimmingTrailingGoSpace() -> ArraySlice<UInt8> {
        var end = endIndex
        while end > startIndex {
            let b = self[end - 1]
            if b < 0x80 {
                if b == 0x20 || (b >= 0x09 && b <= 0x0D) { end -= 1; continue }
                break
            }
            // Find the start of the last UTF-8 sequence.
            var start = end - 1
            while start > startIndex && start > end - 4 && (self[start] & 0xC0) == 0x80 { start -= 1 }
            guard let (scalar, width) = decodeScalar(self, at: start), start + width == end,
                GoChars.isSpace(scalar)
            else { break }
            end = start
        }
        return self[startIndex..<end]
    }

    /// `strings.TrimSpace`.
    func trimmingGoSpace() -> ArraySlice<UInt8> {
        trimmingLeadingGoSpace().trimmingTrailingGoSpace()
    }
}

/// Decodes one UTF-8 scalar at `index`; nil for an invalid or truncated sequence (Go's RuneError, width 1).
@inline(__always)
func decodeScalar(_ bytes: ArraySlice<UInt8>, at index: Int) -> (Unicode.Scalar, Int)? {
    let b0 = bytes[index]
    if b0 < 0x80 { return (Unicode.Scalar(b0), 1) }
    let end = bytes.endIndex
    func cont(_ i: Int) -> UInt32? {
        guard i < end, bytes[i] & 0xC0 == 0x80 else { return nil }
        return UInt32(bytes[i] & 0x3F)
    }
    var value: UInt32
    var width: Int
    if b0 & 0xE0 == 0xC0 {
        guard let c1 = cont(index + 1) else { return nil }
        value = (UInt32(b0 & 0x1F) << 6) | c1; width = 2
        if value < 0x80 { return nil }
    } else if b0 & 0xF0 == 0xE0 {
        guard let c1 = cont(index + 1), let c2 = cont(index + 2) else { return nil }
        value = (UInt32(b0 & 0x0F) << 12) | (c1 << 6) | c2; width = 3
        if value < 0x800 { return nil }
    } else if b0 & 0xF8 == 0xF0 {
        guard let c1 = cont(index + 1), let c2 = cont(index + 2), let c3 = cont(index + 3) else { return nil }
        value = (UInt32(b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3; width = 4
        if value < 0x10000 { return nil }
    } else {
        return nil
    }
    guard let scalar = Unicode.Scalar(value) else { return nil }
    return (scalar, width)
}

extension String {
    /// Builds a String from raw Dockerfile bytes, replacing invalid UTF-8 like Go's JSON encoder does.
    /// Each byte of an invalid sequence becomes one U+FFFD, as in Go.
    init(dockerfileBytes bytes: ArraySlice<UInt8>) {
        let ascii = bytes.withUnsafeBytes { $0.isEmpty || gvmc_is_ascii($0.baseAddress!, $0.count) != 0 }
        if ascii || isValidUTF8(bytes) {
            self = String(decoding: bytes, as: UTF8.self)
            return
        }
        var scalars = String.UnicodeScalarView()
        var i = bytes.startIndex
        while i < bytes.endIndex {
            if let (scalar, width) = decodeScalar(bytes, at: i) {
                scalars.append(scalar); i += width
            } else {
                scalars.append("\u{FFFD}"); i += 1
            }
        }
        self = String(scalars)
    }
}

/// True when `bytes` is well-formed UTF-8 (ASCII fast path first).
@inline(__always)
func isValidUTF8(_ bytes: ArraySlice<UInt8>) -> Bool {
    var i = bytes.startIndex
    while i < bytes.endIndex {
        if bytes[i] < 0x80 { i += 1; continue }
        guard let (_, width) = decodeScalar(bytes, at: i) else { return false }
        i += width
    }
    return true
}

extension StringProtocol {
    /// The text without leading and trailing characters from `set` (no Foundation needed).
    public func trimmingCharacters(in set: String) -> String {
        let chars = Set(set)
        var s = Substring(self)
        while let c = s.first, chars.contains(c) { s.removeFirst() }
        while let c = s.last, chars.contains(c) { s.removeLast() }
        return String(s)
    }
}
