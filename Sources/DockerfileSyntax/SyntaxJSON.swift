// The JSON view of the syntax tree that `gvmc parse --format json` prints: one object per
// instruction with the keys of BuildKit's parser nodes (as the PyPI `dockerfile` package shows them).

extension SyntaxNode {
    /// The node's values as BuildKit's AST lists them: ENV/LABEL as key, value, key, value.
    public var astValues: [String] {
        switch command {
        case "env", "label":
            var out: [String] = []
            var i = 0
            while i + 1 < arguments.count { out.append(arguments[i]); out.append(arguments[i + 1]); i += 3 }
            return out
        default:
            return arguments
        }
    }
}

/// Renders a parsed Dockerfile as the JSON `gvmc parse --format json` prints.
public enum SyntaxJSON {
    /// The JSON document for a parsed file (compact, one instruction per line).
    public static func render(_ file: Dockerfile) -> String {
        var out = "[\n"
        for (i, node) in file.nodes.enumerated() {
            out += "  " + object(node)
            out += i + 1 < file.nodes.count ? ",\n" : "\n"
        }
        return out + "]\n"
    }

    /// The error document: `{"error": "..."}`.
    public static func render(error: DockerfileError) -> String {
        "{\"error\": \(quote(error.description))}\n"
    }

    static func object(_ node: SyntaxNode) -> String {
        let shown = node.trigger ?? node
        var parts: [String] = []
        parts.append("\"cmd\": \(quote(node.command))")
        parts.append("\"sub_cmd\": \(node.trigger.map { quote($0.command) } ?? "null")")
        parts.append("\"json\": \(shown.isJSON)")
        parts.append("\"original\": \(quote(node.original))")
        parts.append("\"start_line\": \(node.startLine)")
        parts.append("\"end_line\": \(node.endLine)")
        parts.append("\"flags\": [\(node.flags.map(quote).joined(separator: ", "))]")
        parts.append("\"value\": [\(shown.astValues.map(quote).joined(separator: ", "))]")
        let heredocs = node.heredocs.map {
            "{\"name\": \(quote($0.name)), \"fd\": \($0.fileDescriptor), \"content\": \(quote($0.content))}"
        }
        parts.append("\"heredocs\": [\(heredocs.joined(separator: ", "))]")
        return "{" + parts.joined(separator: ", ") + "}"
    }

    /// A JSON string literal.
    public static func quote(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 {
                    out += "\\u" + String(c.value, radix: 16).leftPadded(to: 4)
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }
}
