// The Docker ContainerConfig that Golem's runtime reads from the .gvmi trailer (bollard 1.40's
// field names, PascalCase). Encoded compactly with a fixed key order, so images are reproducible.
import Foundation

public struct HealthConfig: Sendable, Equatable {
    public var test: [String]
    public var interval: Int64?
    public var timeout: Int64?
    public var retries: Int?
    public var startPeriod: Int64?
    public var startInterval: Int64?
    public init(test: [String], interval: Int64? = nil, timeout: Int64? = nil, retries: Int? = nil,
                startPeriod: Int64? = nil, startInterval: Int64? = nil) {
        self.test = test; self.interval = interval; self.timeout = timeout; self.retries = retries
        self.startPeriod = startPeriod; self.startInterval = startInterval
    }
}

public struct ContainerConfig: Sendable, Equatable {
    public var hostname: String?
    public var domainname: String?
    public var user: String?
    public var exposedPorts: [String]?
    public var env: [String]?
    public var cmd: [String]?
    public var healthcheck: HealthConfig?
    public var argsEscaped: Bool?
    public var image: String?
    public var volumes: [String]?
    public var workingDir: String?
    public var entrypoint: [String]?
    public var onBuild: [String]?
    public var labels: [String: String]?
    public var stopSignal: String?
    public var shell: [String]?

    public init() {}

    /// Compact JSON with keys in bollard's order; absent fields are left out.
    public func jsonBytes() -> [UInt8] {
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

    /// Reads a ContainerConfig JSON object (as in a .gvmi trailer or `docker inspect`'s Config).
    public init(json: [UInt8]) throws(GVMIError) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json)), let d = object as? [String: Any] else {
            throw .badMetadata("the metadata is not a JSON object")
        }
        func strings(_ key: String) throws(GVMIError) -> [String]? {
            guard let v = d[key], !(v is NSNull) else { return nil }
            guard let a = v as? [String] else { throw .badMetadata("\(key) must be a list of strings") }
            return a
        }
        func string(_ key: String) throws(GVMIError) -> String? {
            guard let v = d[key], !(v is NSNull) else { return nil }
            guard let s = v as? String else { throw .badMetadata("\(key) must be a string") }
            return s
        }
        func keys(_ key: String) throws(GVMIError) -> [String]? {
            guard let v = d[key], !(v is NSNull) else { return nil }
            guard let o = v as? [String: Any] else { throw .badMetadata("\(key) must be an object of {} values") }
            return o.keys.sorted()
        }
        hostname = try string("Hostname")
        domainname = try string("Domainname")
        user = try string("User")
        exposedPorts = try keys("ExposedPorts")
        env = try strings("Env")
        cmd = try strings("Cmd")
        if let h = d["Healthcheck"] as? [String: Any] {
            healthcheck = HealthConfig(test: h["Test"] as? [String] ?? [],
                                       interval: (h["Interval"] as? NSNumber)?.int64Value,
                                       timeout: (h["Timeout"] as? NSNumber)?.int64Value,
                                       retries: (h["Retries"] as? NSNumber)?.intValue,
                                       startPeriod: (h["StartPeriod"] as? NSNumber)?.int64Value,
                                       startInterval: (h["StartInterval"] as? NSNumber)?.int64Value)
        }
        argsEscaped = d["ArgsEscaped"] as? Bool
        image = try string("Image")
        volumes = try keys("Volumes")
        workingDir = try string("WorkingDir")
        entrypoint = try strings("Entrypoint")
        onBuild = try strings("OnBuild")
        if let l = d["Labels"], !(l is NSNull) {
            guard let labels = l as? [String: String] else { throw .badMetadata("Labels must map strings to strings") }
            self.labels = labels
        }
        stopSignal = try string("StopSignal")
        shell = try strings("Shell")
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
