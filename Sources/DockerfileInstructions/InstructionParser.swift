// Syntax node → typed instruction, with BuildKit's validation rules (instructions/parse.go):
// flags per instruction, argument counts, ONBUILD limits, stage names, heredoc sources.
import DockerfileSyntax

/// Turns syntax nodes into typed instructions, checking each one's flags and arguments.
public enum InstructionParser {
    /// Every instruction keyword (lowercase). grammar/dockerfile.ebnf names the same set.
    public static let keywords: [String] = [
        "add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from", "healthcheck", "label",
        "maintainer", "onbuild", "run", "shell", "stopsignal", "user", "volume", "workdir"
    ]

    /// The flags each instruction accepts (name → kind). ARG, STOPSIGNAL and `HEALTHCHECK NONE`
    /// never look at their flags, as in BuildKit.
    static let flagTable: [String: [(String, FlagSet.Kind)]] = [
        "from": [("platform", .string)],
        "run": [("mount", .strings), ("network", .string), ("security", .string)],
        "copy": [
            ("chown", .string), ("from", .string), ("chmod", .string), ("link", .bool),
            ("exclude", .strings), ("parents", .bool)
        ],
        "add": [
            ("chown", .string), ("chmod", .string), ("link", .bool), ("keep-git-dir", .bool),
            ("checksum", .string), ("unpack", .bool), ("exclude", .strings)
        ],
        "healthcheck": [
            ("interval", .string), ("timeout", .string), ("start-period", .string),
            ("start-interval", .string), ("retries", .string)
        ]
    ]

    /// Flags `RUN` accepts only with a `-labs` syntax (BuildKit's labs channel).
    static let labsRunFlags: [(String, FlagSet.Kind)] = [("device", .strings)]

    /// Parses one node. `labs` enables the labs-only flags.
    public static func parse(_ node: SyntaxNode, file: String, labs: Bool = false) throws(DockerfileError) -> Instruction {
        do {
            return Instruction(kind: try kind(of: node, labs: labs), node: node)
        } catch {
            var position = node.position
            if let index = error.flagIndex, index < node.flagPositions.count { position = node.flagPositions[index] }
            throw DockerfileError(file: file, position: position, endLine: node.endLine, message: error.message, cause: error.cause)
        }
    }

    static func flags(_ node: SyntaxNode, _ command: String, labs: Bool = false) throws(InstructionError) -> FlagSet {
        var set = FlagSet()
        for (name, kind) in flagTable[command] ?? [] { set.add(name, kind) }
        if command == "run" && labs { for (name, kind) in labsRunFlags { set.add(name, kind) } }
        do { try set.parse(node.flags) } catch { throw InstructionError(error.message, flagIndex: error.index) }
        return set
    }

    static func exactlyOne(_ node: SyntaxNode, _ name: String) throws(InstructionError) -> String {
        guard node.arguments.count == 1 else { throw InstructionError("\(name) requires exactly one argument") }
        return node.arguments[0]
    }

    static func atLeastOne(_ node: SyntaxNode, _ name: String) throws(InstructionError) {
        if node.arguments.isEmpty { throw InstructionError("\(name) requires at least one argument") }
    }

    static func kind(of node: SyntaxNode, labs: Bool) throws(InstructionError) -> InstructionKind {
        let command = node.command
        switch command {
        case "env", "label":
            _ = try flags(node, command)
            let name = command.uppercased()
            try atLeastOne(node, name)
            guard node.arguments.count % 3 == 0 else { throw InstructionError("Bad input to \(name), too many arguments") }
            var pairs: [KeyValue] = []
            for j in stride(from: 0, to: node.arguments.count, by: 3) {
                if node.arguments[j].isEmpty { throw InstructionError("\(name) names can not be blank") }
                pairs.append(KeyValue(key: node.arguments[j], value: node.arguments[j + 1], legacyForm: node.arguments[j + 2].isEmpty))
            }
            return command == "env" ? .env(pairs) : .label(pairs)
        case "maintainer":
            let value = try exactlyOne(node, "MAINTAINER")
            _ = try flags(node, command)
            return .maintainer(value)
        case "add", "copy":
            let name = command.uppercased()
            guard node.arguments.count >= 2 else {
                throw InstructionError(
                    "\(name) requires at least two arguments, but only one was provided. Destination could not be determined")
            }
            let f = try flags(node, command)
            let sources = try sourcesAndDestination(node, name)
            if command == "copy" {
                return .copy(
                    CopyInstruction(
                        sources: sources, from: f.string("from"), chown: f.string("chown"),
                        chmod: f.string("chmod"), link: f.bool("link"), parents: f.bool("parents"),
                        excludes: f.list("exclude")))
            }
            return .add(
                AddInstruction(
                    sources: sources, chown: f.string("chown"), chmod: f.string("chmod"),
                    link: f.bool("link"), keepGitDir: f.optionalBool("keep-git-dir"),
                    checksum: f.string("checksum"), unpack: f.optionalBool("unpack"),
                    excludes: f.list("exclude")))
        case "from":
            let args = node.arguments
            var stageName: String?
            if args.count == 3 && args[1].lowercased() == "as" {
                let lowered = args[2].lowercased()
                guard isValidStageName(lowered) else {
                    throw InstructionError(
                        "invalid name for build stage: \(goQuoted(args[2])), name can't start with a number or contain symbols")
                }
                stageName = lowered
            } else if args.count != 1 {
                throw InstructionError("FROM requires either one or three arguments")
            }
            let f = try flags(node, command)
            return .from(
                FromInstruction(
                    baseName: args[0], stageName: stageName, platform: f.string("platform"),
                    asKeyword: args.count == 3 ? args[1] : nil))
        case "onbuild":
            guard let trigger = node.trigger else { throw InstructionError("ONBUILD requires at least one argument") }
            _ = try flags(node, command)
            let triggerName = trigger.keyword.trimmingCharacters(in: " \t").uppercased()
            switch triggerName {
            case "ONBUILD": throw InstructionError("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            case "MAINTAINER", "FROM": throw InstructionError("\(triggerName) isn't allowed as an ONBUILD trigger")
            default: break
            }
            var expression = stripOnbuildPrefix(node.original)
            for heredoc in node.heredocs { expression += "\n" + heredoc.content + heredoc.name }
            return .onbuild(expression: expression, trigger: trigger)
        case "workdir":
            let value = try exactlyOne(node, "WORKDIR")
            _ = try flags(node, command)
            return .workdir(value)
        case "run":
            let f = try flags(node, command, labs: labs)
            var mounts: [RunMount] = []
            for value in f.list("mount") {
                do { mounts.append(try RunMount.parse(value)) } catch {
                    throw InstructionError(error.message, flagIndex: flagIndex(node, value: value, name: "mount"))
                }
            }
            let network = f.string("network") ?? "default"
            guard ["default", "none", "host"].contains(network) else {
                throw InstructionError(
                    "invalid network mode \(goQuoted(network))", flagIndex: flagIndex(node, value: network, name: "network"))
            }
            let security = f.string("security") ?? "sandbox"
            guard ["sandbox", "insecure"].contains(security) else {
                throw InstructionError(
                    "unsupported security mode \(goQuoted(security))", flagIndex: flagIndex(node, value: security, name: "security"))
            }
            return .run(
                RunInstruction(
                    command: commandLine(node), mounts: mounts, network: network,
                    security: security, devices: f.list("device"), flagsUsed: f.used))
        case "cmd":
            _ = try flags(node, command)
            return .cmd(commandLine(node))
        case "entrypoint":
            _ = try flags(node, command)
            let line = commandLine(node)
            return .entrypoint(line.arguments.isEmpty ? nil : line)
        case "healthcheck":
            return .healthcheck(try healthcheck(node))
        case "expose":
            try atLeastOne(node, "EXPOSE")
            _ = try flags(node, command)
            return .expose(node.arguments.sorted(by: { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }))
        case "user":
            let value = try exactlyOne(node, "USER")
            _ = try flags(node, command)
            return .user(value)
        case "volume":
            try atLeastOne(node, "VOLUME")
            _ = try flags(node, command)
            var volumes: [String] = []
            for v in node.arguments {
                let trimmed = v.trimmingCharacters(in: " \t\n\r\u{0B}\u{0C}")
                if trimmed.isEmpty { throw InstructionError("VOLUME specified can not be an empty string") }
                volumes.append(trimmed)
            }
            return .volume(volumes)
        case "stopsignal":
            return .stopSignal(try exactlyOne(node, "STOPSIGNAL"))
        case "arg":
            try atLeastOne(node, "ARG")
            var defs: [ArgDefinition] = []
            for word in node.arguments {
                if let eq = word.firstIndex(of: "=") {
                    let key = String(word[..<eq])
                    if key.isEmpty { throw InstructionError("ARG names can not be blank") }
                    defs.append(
                        ArgDefinition(
                            key: key, defaultValue: String(word[word.index(after: eq)...]),
                            documentation: docComment(node.comments, key)))
                } else {
                    defs.append(ArgDefinition(key: word, defaultValue: nil, documentation: docComment(node.comments, word)))
                }
            }
            return .arg(defs)
        case "shell":
            _ = try flags(node, command)
            if node.arguments.isEmpty { throw InstructionError("SHELL requires at least one argument") }
            guard node.isJSON else {
                throw InstructionError("SHELL requires the arguments to be in JSON form")
            }
            return .shell(node.arguments)
        default:
            var message = "unknown instruction: \(node.keyword)"
            if let match = Suggest.closest(to: node.keyword, in: keywords.map { $0.uppercased() }, caseSensitive: false) {
                message += " (did you mean \(match)?)"
            }
            throw InstructionError(message)
        }
    }

    static func flagIndex(_ node: SyntaxNode, value: String, name: String) -> Int? {
        node.flags.firstIndex(of: "--\(name)=\(value)")
    }

    static func isValidStageName(_ s: String) -> Bool {
        guard let first = s.unicodeScalars.first, first.value >= 0x61 && first.value <= 0x7A else { return false }
        return s.unicodeScalars.allSatisfy {
            ($0.value >= 0x61 && $0.value <= 0x7A) || ($0.value >= 0x30 && $0.value <= 0x39) || "-_.".unicodeScalars.contains($0)
        }
    }

    /// `(?i)^\s*ONBUILD\s*` removed from the original line.
    static func stripOnbuildPrefix(_ original: String) -> String {
        var s = Substring(original)
        while let c = s.first, c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\u{0C}" { s.removeFirst() }
        if s.prefix(7).lowercased() == "onbuild" { s.removeFirst(7) } else { return original }
        while let c = s.first, c == " " || c == "\t" || c == "\r" || c == "\n" || c == "\u{0C}" { s.removeFirst() }
        return String(s)
    }

    static func docComment(_ comments: [String], _ name: String) -> String? {
        guard !name.isEmpty else { return nil }
        for line in comments where line.hasPrefix(name + " ") { return String(line.dropFirst(name.count + 1)) }
        return nil
    }

    static func commandLine(_ node: SyntaxNode) -> CommandLine {
        CommandLine(arguments: node.arguments, prependShell: !node.isJSON, files: node.heredocs)
    }

    static func sourcesAndDestination(_ node: SyntaxNode, _ name: String) throws(InstructionError) -> SourcesAndDestination {
        let destination = node.arguments[node.arguments.count - 1]
        if HeredocWord.parse(destination) != nil {
            throw InstructionError("\(name) cannot accept a heredoc as a destination")
        }
        var byName: [String: Heredoc] = [:]
        for h in node.heredocs { byName[h.name] = h }
        var paths: [String] = []
        var contents: [InlineSource] = []
        for source in node.arguments.dropLast() {
            if let marker = HeredocWord.parse(source) {
                let heredoc = byName[marker.name]
                var data = heredoc?.content ?? ""
                if marker.chomp, let heredoc { data = heredoc.chompedContent }
                contents.append(InlineSource(path: marker.name, data: data, expand: marker.expand))
            } else {
                paths.append(source)
            }
        }
        return SourcesAndDestination(sourcePaths: paths, sourceContents: contents, destination: destination)
    }

    static func healthcheck(_ node: SyntaxNode) throws(InstructionError) -> Healthcheck {
        guard let first = node.arguments.first else { throw InstructionError("HEALTHCHECK requires at least one argument") }
        let type = first.uppercased()
        let args = Array(node.arguments.dropFirst())
        if type == "NONE" {
            guard args.isEmpty else { throw InstructionError("HEALTHCHECK NONE takes no arguments") }
            return Healthcheck(test: ["NONE"])
        }
        let f = try flags(node, "healthcheck")
        guard type == "CMD" else { throw InstructionError("Unknown type \(goQuoted(type)) in HEALTHCHECK (try CMD)") }
        guard !args.isEmpty else { throw InstructionError("Missing command after HEALTHCHECK CMD") }
        var check = Healthcheck(test: [node.isJSON ? "CMD" : "CMD-SHELL"] + args)
        func interval(_ name: String) throws(InstructionError) -> Int64 {
            guard let text = f.string(name), !text.isEmpty else { return 0 }
            guard let d = GoValues.duration(text) else {
                throw InstructionError("time: invalid duration \(goQuoted(text))", flagIndex: flagIndex(node, value: text, name: name))
            }
            if d == 0 { return 0 }
            guard d >= 1_000_000 else {
                throw InstructionError(
                    "Interval \(goQuoted(name)) cannot be less than 1ms", flagIndex: flagIndex(node, value: text, name: name))
            }
            return d
        }
        check.interval = try interval("interval")
        check.timeout = try interval("timeout")
        check.startPeriod = try interval("start-period")
        check.startInterval = try interval("start-interval")
        if let retries = f.string("retries"), !retries.isEmpty {
            guard let n = Int32(retries) else {
                throw InstructionError(
                    "strconv.ParseInt: parsing \(goQuoted(retries)): invalid syntax",
                    flagIndex: flagIndex(node, value: retries, name: "retries"))
            }
            guard n >= 0 else { throw InstructionError("--retries cannot be negative (\(n))") }
            check.retries = Int(n)
        }
        return check
    }
}
