// Flag parsing for instructions (BuildKit's BFlags): `--name=value` words, typed per instruction.
import DockerfileSyntax

/// The flags an instruction accepts and what the Dockerfile gave for them.
struct FlagSet {
    enum Kind { case bool, string, strings }
    struct Spec { var kind: Kind }

    private var specs: [String: Kind] = [:]
    private(set) var used: Set<String> = []
    private var strings: [String: String] = [:]
    private var lists: [String: [String]] = [:]
    private var bools: [String: Bool] = [:]

    mutating func add(_ name: String, _ kind: Kind) { specs[name] = kind }

    /// Parses `words` (each starting with `--`), throwing `(message, index of the word)`.
    mutating func parse(_ words: [String]) throws(FlagError) {
        for (index, word) in words.enumerated() {
            if word == "--" { return }
            guard word.hasPrefix("--") else {
                throw FlagError(message: "arg should start with -- : \(word)", index: index)
            }
            let flagName: Substring
            let value: Substring
            let hasValue: Bool
            if let eq = word.firstIndex(of: "=") {
                flagName = word[..<eq]; value = word[word.index(after: eq)...]; hasValue = true
            } else {
                flagName = word[...]; value = ""; hasValue = false
            }
            let name = String(flagName.dropFirst(2))
            guard let kind = specs[name] else {
                var message = "unknown flag: \(flagName)"
                if let match = Suggest.closest(to: name, in: Array(specs.keys), caseSensitive: true) {
                    message += " (did you mean \(match)?)"
                }
                throw FlagError(message: message, index: index)
            }
            if used.contains(name) && kind != .strings {
                throw FlagError(message: "duplicate flag specified: \(flagName)", index: index)
            }
            used.insert(name)
            switch kind {
            case .bool:
                if hasValue && value.isEmpty {
                    throw FlagError(message: "missing a value on flag: \(flagName)", index: index)
                }
                switch value.lowercased() {
                case "true", "": bools[name] = true
                case "false": bools[name] = false
                default:
                    throw FlagError(message: "expecting boolean value for flag \(flagName), not: \(value)", index: index)
                }
            case .string:
                guard hasValue else { throw FlagError(message: "missing a value on flag: \(flagName)", index: index) }
                strings[name] = String(value)
            case .strings:
                guard hasValue else { throw FlagError(message: "missing a value on flag: \(flagName)", index: index) }
                lists[name, default: []].append(String(value))
            }
        }
    }

    func string(_ name: String) -> String? { strings[name] }
    func list(_ name: String) -> [String] { lists[name] ?? [] }
    func bool(_ name: String) -> Bool { bools[name] ?? false }
    /// The value only when the flag was given (`--unpack` vs not given).
    func optionalBool(_ name: String) -> Bool? { used.contains(name) ? bools[name] : nil }
}

struct FlagError: Error {
    var message: String
    var index: Int
}
