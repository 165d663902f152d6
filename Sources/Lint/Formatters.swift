import DockerfileSyntax
// Output formats CI tools and editors read: tty, json, sarif (2.1.0), github, checkstyle, gnu.

/// The output formats of `gvmc lint` (`--format`).
public enum OutputFormat: String, CaseIterable, Sendable {
    case tty, json, sarif, github, checkstyle, gnu
}

/// Renders findings in one of the output formats.
public enum FindingFormatter {
    /// `sources` maps a file path to its text (for the source line and caret in tty output).
    public static func render(
        _ findings: [Finding], format: OutputFormat, files: [String], sources: [String: [UInt8]],
        color: Bool, version: String
    ) -> String {
        switch format {
        case .tty: return tty(findings, sources: sources, color: color)
        case .json: return json(findings)
        case .sarif: return sarif(findings, files: files, version: version)
        case .github: return findings.map(github).joined()
        case .checkstyle: return checkstyle(findings, files: files)
        case .gnu:
            return findings.map { "\($0.file):\($0.line).\($0.column): \($0.severity.rawValue): \($0.message) [\($0.rule)]\n" }.joined()
        }
    }

    static func tty(_ findings: [Finding], sources: [String: [UInt8]], color: Bool) -> String {
        func paint(_ s: String, _ code: String) -> String { color ? "\u{1B}[\(code)m\(s)\u{1B}[0m" : s }
        var out = ""
        var lineCache: [String: [Substring]] = [:]
        for f in findings {
            let level: String
            switch f.severity {
            case .error: level = paint("error", "1;31")
            case .warning: level = paint("warning", "1;33")
            default: level = paint("info", "1;36")
            }
            out += "\(paint("\(f.file):\(f.line):\(f.column)", "1")): \(level): \(f.message) \(paint("[\(f.rule)]", "2"))\n"
            if lineCache[f.file] == nil, let bytes = sources[f.file] {
                lineCache[f.file] = String(decoding: bytes, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
            }
            if let lines = lineCache[f.file], f.line >= 1, f.line <= lines.count {
                let text = lines[f.line - 1].replacingTabs()
                out += "  \(f.line) | \(text)\n"
                out +=
                    "  " + String(repeating: " ", count: String(f.line).count) + " | " + String(repeating: " ", count: max(0, f.column - 1))
                    + paint("^", "1;32") + "\n"
            }
        }
        return out
    }

    static func json(_ findings: [Finding]) -> String {
        let items = findings.map { f in
            "{\"code\":\(q(f.rule)),\"level\":\(q(f.severity.rawValue)),\"file\":\(q(f.file)),\"line\":\(f.line),\"column\":\(f.column),\"endLine\":\(f.endLine),\"message\":\(q(f.message))}"
        }
        return "[" + items.joined(separator: ",") + "]\n"
    }

    static func github(_ f: Finding) -> String {
        let kind = f.severity == .error ? "error" : f.severity == .warning ? "warning" : "notice"
        func esc(_ s: String, property: Bool) -> String {
            var o = s.replacingAll("%", "%25").replacingAll("\r", "%0D").replacingAll("\n", "%0A")
            if property { o = o.replacingAll(":", "%3A").replacingAll(",", "%2C") }
            return o
        }
        return
            "::\(kind) file=\(esc(f.file, property: true)),line=\(f.line),endLine=\(f.endLine),col=\(f.column),title=\(esc(f.rule, property: true))::\(esc(f.message, property: false))\n"
    }

    static func checkstyle(_ findings: [Finding], files: [String]) -> String {
        func x(_ s: String) -> String {
            s.replacingAll("&", "&amp;").replacingAll("<", "&lt;").replacingAll(">", "&gt;").replacingAll("\"", "&quot;").replacingAll(
                "'", "&apos;")
        }
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"4.3\">\n"
        for file in files {
            out += "  <file name=\"\(x(file))\">\n"
            for f in findings where f.file == file {
                let sev = f.severity == .error ? "error" : f.severity == .warning ? "warning" : "info"
                out +=
                    "    <error line=\"\(f.line)\" column=\"\(f.column)\" severity=\"\(sev)\" message=\"\(x(f.message))\" source=\"gvmc.\(x(f.rule))\"/>\n"
            }
            out += "  </file>\n"
        }
        return out + "</checkstyle>\n"
    }

    static func sarif(_ findings: [Finding], files: [String], version: String) -> String {
        let rules = RuleCatalog.all + [RuleCatalog.syntax]
        let index = Dictionary(uniqueKeysWithValues: rules.enumerated().map { ($1.id, $0) })
        func level(_ s: Severity) -> String { s == .error ? "error" : s == .warning ? "warning" : "note" }
        let ruleObjects = rules.map { r -> String in
            var o = "{\"id\":\(q(r.id)),\"name\":\(q(r.id)),\"shortDescription\":{\"text\":\(q(r.summary))},"
            o += "\"fullDescription\":{\"text\":\(q(r.rationale))},"
            o +=
                "\"help\":{\"text\":\(q("\(r.rationale)\nFix: \(r.fix)\nExample:\n\(r.example)")),\"markdown\":\(q("\(r.rationale)\n\n**Fix:** \(r.fix)\n\n```dockerfile\n\(r.example)```"))},"
            if let url = r.url { o += "\"helpUri\":\(q(url))," }
            o += "\"defaultConfiguration\":{\"level\":\(q(level(r.severity)))},"
            o += "\"properties\":{\"tags\":[\(q(r.id.hasPrefix("GVM") ? "golem" : "buildkit"))]}}"
            return o
        }
        let results = findings.map { f -> String in
            "{\"ruleId\":\(q(f.rule)),\"ruleIndex\":\(index[f.rule] ?? 0),\"level\":\(q(level(f.severity))),\"message\":{\"text\":\(q(f.message))},"
                + "\"locations\":[{\"physicalLocation\":{\"artifactLocation\":{\"uri\":\(q(uri(f.file)))},\"region\":{\"startLine\":\(f.line),\"startColumn\":\(f.column),\"endLine\":\(f.endLine)}}}]}"
        }
        let artifacts = files.map { "{\"location\":{\"uri\":\(q(uri($0)))}}" }
        return
            "{\"$schema\":\"https://json.schemastore.org/sarif-2.1.0.json\",\"version\":\"2.1.0\",\"runs\":[{\"tool\":{\"driver\":{\"name\":\"gvmc\",\"informationUri\":\"https://github.com/golemfactory\",\"version\":\(q(version)),\"rules\":[\(ruleObjects.joined(separator: ","))]}},\"artifacts\":[\(artifacts.joined(separator: ","))],\"results\":[\(results.joined(separator: ","))]}]}\n"
    }

    /// A relative URI reference for a path (percent-encoding what URIs cannot hold).
    static func uri(_ path: String) -> String {
        var out = ""
        for b in path.utf8 {
            let c = Character(Unicode.Scalar(b))
            if b < 0x80 && (c.isLetter || c.isNumber || "-._~/".contains(c)) { out.append(c) } else { out += "%" + String(format2: b) }
        }
        return out
    }

    static func q(_ s: String) -> String { SyntaxJSON.quote(s) }
}

extension String {
    init(format2 b: UInt8) {
        let digits = Array("0123456789ABCDEF")
        self = String([digits[Int(b >> 4)], digits[Int(b & 15)]])
    }

    func replacingAll(_ target: String, _ replacement: String) -> String {
        guard !target.isEmpty, contains(target) else { return self }
        var out = ""
        var rest = Substring(self)
        while let r = rest.range(of: target) {
            out += rest[..<r.lowerBound]
            out += replacement
            rest = rest[r.upperBound...]
        }
        return out + rest
    }
}

extension Substring {
    func replacingTabs() -> String { String(self).replacingAll("\t", "    ").replacingAll("\r", "") }
}

extension StringProtocol {
    func range(of target: String) -> Range<Index>? {
        guard !target.isEmpty else { return nil }
        var i = startIndex
        while i < endIndex {
            if self[i...].hasPrefix(target) { return i..<index(i, offsetBy: target.count) }
            i = index(after: i)
        }
        return nil
    }
}
