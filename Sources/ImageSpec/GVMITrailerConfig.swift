// The one mapping from an image's configuration to the .gvmi trailer: which configuration goes
// in (an image config's `config`, or a built stage's), and its bytes, compact with bollard's key
// order and absent fields left out, so the same configuration always gives the same image.

extension ImageConfiguration {
    /// The configuration a .gvmi made from this image carries (before its User is made numeric):
    /// the image's `config`, or an empty one.
    public var trailerConfig: ContainerConfig { config ?? ContainerConfig() }
}

extension ContainerConfig {
    /// The JSON Golem's runtime reads from the trailer: compact, keys in bollard's order, absent
    /// fields left out, sets and labels in sorted key order.
    public func trailerJSON() -> [UInt8] {
        var parts: [String] = []
        func str(_ s: String) -> String { jsonQuote(s) }
        func list(_ a: [String]) -> String { "[" + a.map(str).joined(separator: ",") + "]" }
        func set(_ a: [String]) -> String { "{" + a.map { str($0) + ":{}" }.joined(separator: ",") + "}" }
        if let hostname { parts.append("\"Hostname\":" + str(hostname)) }
        if let domainname { parts.append("\"Domainname\":" + str(domainname)) }
        if let user { parts.append("\"User\":" + str(user)) }
        if let exposedPorts { parts.append("\"ExposedPorts\":" + set(exposedPorts)) }
        if let env { parts.append("\"Env\":" + list(env)) }
        if let cmd { parts.append("\"Cmd\":" + list(cmd)) }
        if let h = healthcheck {
            var hp = ["\"Test\":" + list(h.test)]
            if let v = h.interval { hp.append("\"Interval\":\(v)") }
            if let v = h.timeout { hp.append("\"Timeout\":\(v)") }
            if let v = h.retries { hp.append("\"Retries\":\(v)") }
            if let v = h.startPeriod { hp.append("\"StartPeriod\":\(v)") }
            if let v = h.startInterval { hp.append("\"StartInterval\":\(v)") }
            parts.append("\"Healthcheck\":{" + hp.joined(separator: ",") + "}")
        }
        if let argsEscaped { parts.append("\"ArgsEscaped\":\(argsEscaped)") }
        if let image { parts.append("\"Image\":" + str(image)) }
        if let volumes { parts.append("\"Volumes\":" + set(volumes)) }
        if let workingDir { parts.append("\"WorkingDir\":" + str(workingDir)) }
        if let entrypoint { parts.append("\"Entrypoint\":" + list(entrypoint)) }
        if let onBuild { parts.append("\"OnBuild\":" + list(onBuild)) }
        if let labels {
            let items = labels.keys.sorted().map { str($0) + ":" + str(labels[$0]!) }
            parts.append("\"Labels\":{" + items.joined(separator: ",") + "}")
        }
        if let stopSignal { parts.append("\"StopSignal\":" + str(stopSignal)) }
        if let shell { parts.append("\"Shell\":" + list(shell)) }
        return Array(("{" + parts.joined(separator: ",") + "}").utf8)
    }
}

/// A JSON string literal (control characters escaped, everything else UTF-8).
func jsonQuote(_ s: String) -> String {
    var out = "\""
    for c in s.unicodeScalars {
        switch c {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if c.value < 0x20 {
                let hex = String(c.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                out.unicodeScalars.append(c)
            }
        }
    }
    return out + "\""
}
