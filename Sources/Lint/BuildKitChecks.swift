// BuildKit's build checks, with BuildKit's conditions and messages (frontend/dockerfile/linter,
// dockerfile2llb/validations.go). Checks that need the base image (InvalidBaseImagePlatform)
// or the whole base environment (UndefinedVar under an unknown image) run only when it is known.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax

struct BuildKitChecks {
    let file: StagedDockerfile
    let walker: StageWalker
    let stages: [WalkedStage]
    let experimental: Set<String>
    /// Paths ignored by the context's .dockerignore (for CopyIgnoredFile); nil: no .dockerignore.
    let isIgnored: ((String) -> Bool)?
    var report: (String, SyntaxNode, String, String?) -> Void

    func run() {
        for w in file.file.warnings where w.kind == .emptyContinuation {
            if let node = file.file.nodes.last(where: { $0.startLine <= w.position.line }) {
                report("NoEmptyContinuation", node, "Empty continuation line", nil)
            }
        }
        checkCasing()
        checkStages()
        for stage in stages {
            guard let config = stage.baseConfig, stage.parentIndex == nil, let actual = config.platformName else { continue }
            let arch = config.architecture?.lowercased() ?? ""
            if config.os?.lowercased() != "linux" || !(arch == "amd64" || arch == "x86_64") {
                report(
                    "InvalidBaseImagePlatform", stage.stage.fromNode,
                    "Base image \(stage.baseName ?? stage.stage.from.baseName) was pulled with platform \"\(actual)\", expected \"linux/amd64\" for current build",
                    nil)
            }
        }
        checkFromArgs()
        for stage in stages { checkInstructions(stage) }
    }

    func selfConsistent(_ s: String) -> Bool { s == s.lowercased() || s == s.uppercased() }

    func checkCasing() {
        var lower = 0, upper = 0
        var keywords: [(String, SyntaxNode)] = []
        for stage in file.stages {
            keywords.append((stage.fromNode.keyword, stage.fromNode))
            for i in stage.instructions { keywords.append((i.node.keyword, i.node)) }
        }
        for (k, _) in keywords where selfConsistent(k) {
            if k == k.lowercased() { lower += 1 } else { upper += 1 }
        }
        let majorityLower = lower > upper
        for (k, node) in keywords {
            if majorityLower && k.lowercased() != k {
                report("ConsistentInstructionCasing", node, "Command '\(k)' should match the case of the command majority (lowercase)", nil)
            } else if !majorityLower && k.uppercased() != k {
                report("ConsistentInstructionCasing", node, "Command '\(k)' should match the case of the command majority (uppercase)", nil)
            }
        }
    }

    func checkStages() {
        var names = Set<String>()
        for stage in file.stages {
            let node = stage.fromNode
            let args = node.arguments
            if args.count == 3 && args[2] != args[2].lowercased() {
                report("StageNameCasing", node, "Stage name '\(args[2])' should be lowercase", args[2])
            }
            if args.count >= 3 {
                let from = node.keyword
                let fromLower = from == from.lowercased(), fromUpper = from == from.uppercased()
                if fromLower || fromUpper {
                    let asMatches = fromLower ? args[1] == args[1].lowercased() : args[1] == args[1].uppercased()
                    if !asMatches { report("FromAsCasing", node, "'\(args[1])' and '\(from)' keywords' casing do not match", args[1]) }
                }
            }
            if let name = stage.name {
                if name == "scratch" || name == "context" {
                    report("ReservedStageName", node, "Stage name should not use the same name as reserved stage \"\(name)\"", nil)
                }
                if names.contains(name) {
                    report("DuplicateStageName", node, "Duplicate stage name \"\(name)\", stage names should be unique", nil)
                }
                names.insert(name)
            }
            if experimental.contains("InvalidDefinitionDescription"), let name = stage.name {
                checkDescription("FROM", [name], node)
            }
        }
        for meta in file.metaArgs {
            guard case .arg(let defs) = meta.kind, experimental.contains("InvalidDefinitionDescription") else { continue }
            checkDescription("ARG", defs.map(\.key), meta.node)
        }
    }

    func checkDescription(_ instruction: String, _ keys: [String], _ node: SyntaxNode) {
        guard let last = node.comments.last, !keys.isEmpty else { return }
        let first = String(last.split(separator: " ", omittingEmptySubsequences: false).first ?? "")
        if keys.contains(first) { return }
        let example = keys.count > 1 ? "<arg_key>" : keys[0]
        report(
            "InvalidDefinitionDescription", node, "Comment for \(instruction) should follow the format: `# \(example) <description>`", nil)
    }

    func checkFromArgs() {
        let declared = Set(walker.globalArgOrder)
        let env = walker.globalEnvironment()
        for stage in file.stages {
            let node = stage.fromNode
            let lexer = ShellLexer(escapeToken: walker.escape)
            for word in [stage.from.baseName] + (stage.from.platform.map { [$0] } ?? []) {
                guard let result = try? lexer.expand(word, lookup: { env[$0] ?? nil }) else { continue }
                for name in result.unmatched.sorted() where !declared.contains(name) {
                    var message = "FROM argument '\(name)' is not declared"
                    if let s = suggestion(name, Array(declared)) { message += " (did you mean \(s)?)" }
                    report("UndefinedArgInFrom", node, message, "$" + name)
                }
            }
            if let platform = stage.from.platform,
                let result = try? lexer.expand(platform, lookup: { env[$0] ?? nil })
            {
                if result.matched == ["TARGETPLATFORM"] && result.unmatched.isEmpty && result.value == platformArgs["TARGETPLATFORM"] {
                    report(
                        "RedundantTargetPlatform", node,
                        "Setting platform to predefined \(platform) in FROM is redundant as this is the default behavior", nil)
                }
                if result.matched.isEmpty && result.unmatched.isEmpty {
                    let parts = result.value.split(separator: "/").map(String.init)
                    let os = parts.first ?? "", arch = parts.count > 1 ? parts[1] : ""
                    let name = stage.name ?? ""
                    if parts.count >= 2 && !name.contains(os) && !name.contains(arch) {
                        report(
                            "FromPlatformFlagConstDisallowed", node,
                            "FROM --platform flag should not use constant value \"\(result.value)\"", nil)
                    }
                }
            }
            // With defaults only, the base must be a usable image name.
            let defaultsOnly = env.compactMapValues { $0 }
            if let base = try? lexer.expand(stage.from.baseName, lookup: { defaultsOnly[$0] }).value, !isPlausibleImageName(base) {
                report(
                    "InvalidDefaultArgInFrom", node,
                    "Default value for ARG \(stage.from.baseName) results in empty or invalid base image name", nil)
            }
        }
    }

    /// A light version of Docker's reference grammar: non-empty, lowercase repository, valid tag/digest.
    func isPlausibleImageName(_ name: String) -> Bool {
        guard !name.isEmpty, !name.hasPrefix("/"), !name.hasSuffix(":"), !name.hasSuffix("@"), !name.contains("//"),
            !name.contains(" ")
        else { return false }
        var repo = Substring(name)
        if let at = repo.firstIndex(of: "@") { repo = repo[..<at] }
        if let colon = repo.lastIndex(of: ":"), !repo[colon...].contains("/") {
            let tag = repo[repo.index(after: colon)...]
            guard !tag.isEmpty, tag.count <= 128 else { return false }
            repo = repo[..<colon]
        }
        let path = repo.split(separator: "/", omittingEmptySubsequences: false)
        let components =
            path.count > 1 && (path[0].contains(".") || path[0].contains(":") || path[0] == "localhost") ? path.dropFirst() : path[...]
        return !components.isEmpty && components.allSatisfy { !$0.isEmpty && $0 == $0.lowercased() }
    }

    func suggestion(_ name: String, _ options: [String]) -> String? {
        var best: String?
        var min = 3
        for o in options.sorted() {
            let d = Suggest.levenshtein(Array(name.unicodeScalars), Array(o.unicodeScalars))
            if d < min { min = d; best = o }
        }
        return best
    }

    func checkInstructions(_ stage: WalkedStage) {
        var seen: [String: SyntaxNode] = [:]
        var shellSet = false
        var workdirSet = false
        let escape = walker.escape
        for w in stage.instructions {
            let node = w.instruction.node
            switch w.instruction.kind {
            case .cmd(let line), .entrypoint(.some(let line)):
                if line.prependShell && !shellSet {
                    report(
                        "JSONArgsRecommended", node,
                        "JSON arguments recommended for \(node.keyword) to prevent unintended behavior related to OS signals", nil)
                }
            case .entrypoint(.none):
                if !node.isJSON && !shellSet {
                    report(
                        "JSONArgsRecommended", node,
                        "JSON arguments recommended for \(node.keyword) to prevent unintended behavior related to OS signals", nil)
                }
            case .shell:
                shellSet = true
            case .maintainer:
                report("MaintainerDeprecated", node, "Maintainer instruction is deprecated in favor of using label", nil)
            case .workdir(let path):
                if !workdirSet && !path.hasPrefix("/") {
                    report(
                        "WorkdirRelativePath", node, "Relative workdir \"\(path)\" can have unexpected results if the base image changes",
                        path)
                }
                workdirSet = true
            case .env(let pairs), .label(let pairs):
                for p in pairs where p.legacyForm {
                    report(
                        "LegacyKeyValueFormat", node,
                        "\"\(node.keyword) key=value\" should be used instead of legacy \"\(node.keyword) key value\" format", nil)
                }
                if node.command == "env" {
                    for p in pairs where isSecretKey(p.key) {
                        report(
                            "SecretsUsedInArgOrEnv", node, "Do not use ARG or ENV instructions for sensitive data (ENV \"\(p.key)\")", p.key
                        )
                    }
                }
            case .arg(let defs):
                for d in defs where isSecretKey(d.key) {
                    report("SecretsUsedInArgOrEnv", node, "Do not use ARG or ENV instructions for sensitive data (ARG \"\(d.key)\")", d.key)
                }
                if experimental.contains("InvalidDefinitionDescription") { checkDescription("ARG", defs.map(\.key), node) }
            case .expose(let ports):
                for raw in ports {
                    let words = (try? ShellLexer(escapeToken: escape).expandWords(raw, lookup: { w.variables[$0] ?? nil })) ?? [raw]
                    for port in words {
                        if let slash = port.lastIndex(of: "/") {
                            let proto = port[port.index(after: slash)...]
                            if proto != proto.lowercased() {
                                report(
                                    "ExposeProtoCasing", node, "Defined protocol '\(port)' in EXPOSE instruction should be lowercase", port)
                            }
                        }
                        if port.contains(":") {
                            report(
                                "ExposeInvalidFormat", node,
                                "EXPOSE instruction should not define an IP address or host-port mapping, found '\(port)'", port)
                        }
                    }
                }
            case .copy(let c):
                checkIgnored(c.sources, from: c.from, node: node, command: "Copy")
            case .add(let a):
                checkIgnored(a.sources, from: nil, node: node, command: "Add")
            default:
                break
            }
            let once = ["cmd", "entrypoint", "healthcheck"]
            if once.contains(node.command) {
                if let earlier = seen[node.command] {
                    report(
                        "MultipleInstructionsDisallowed", earlier,
                        "Multiple \(node.keyword) instructions should not be used in the same stage because only the last one will be used",
                        nil)
                }
                seen[node.command] = node
            }
            if stage.environmentKnown { checkUndefined(w) }
        }
    }

    func checkIgnored(_ s: SourcesAndDestination, from: String?, node: SyntaxNode, command: String) {
        guard from == nil, let isIgnored else { return }
        for source in s.sourcePaths where !source.contains("://") {
            let clean = resolvePath(source, against: "/").dropFirst()
            if isIgnored(String(clean)) {
                report(
                    "CopyIgnoredFile", node,
                    "Attempting to \(command) file \"\(clean.isEmpty ? "." : String(clean))\" that is excluded by .dockerignore", nil)
            }
        }
    }

    /// Words each instruction expands (BuildKit's list), checked against the variables in scope.
    func checkUndefined(_ w: WalkedInstruction) {
        var words: [String] = []
        switch w.instruction.kind {
        case .env(let p), .label(let p): words = p.flatMap { [$0.key, $0.value] }
        case .arg(let d): words = d.compactMap(\.defaultValue)
        case .copy(let c): words = c.sources.sourcePaths + [c.sources.destination] + [c.chown, c.chmod].compactMap { $0 }
        case .add(let a): words = a.sources.sourcePaths + [a.sources.destination] + [a.chown, a.chmod, a.checksum].compactMap { $0 }
        case .workdir(let s), .user(let s), .stopSignal(let s): words = [s]
        case .volume(let v), .expose(let v): words = v
        default: return
        }
        let lexer = ShellLexer(escapeToken: walker.escape)
        var reported = Set<String>()
        let options = w.variables.keys.sorted()
        for word in words {
            guard let result = try? lexer.expand(word, lookup: { w.variables[$0] ?? nil }) else { continue }
            for name in result.unmatched.sorted() where w.variables[name] == nil && !reported.contains(name) {
                reported.insert(name)
                var message = "Usage of undefined variable '$\(name)'"
                if let s = suggestion(name, options) { message += " (did you mean $\(s)?)" }
                report("UndefinedVar", w.instruction.node, message, "$" + name)
            }
        }
    }

    /// BuildKit's secret-key test: a `_`-separated word from the deny list, none from the allow list.
    func isSecretKey(_ key: String) -> Bool {
        let parts = key.lowercased().split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        let deny: Set<String> = ["apikey", "auth", "credential", "credentials", "key", "password", "pword", "passwd", "secret", "token"]
        let allow: Set<String> = ["public", "file", "version"]
        // The regexp matches a deny word at the start, the end, or between underscores.
        return parts.contains { deny.contains($0) } && !parts.contains { allow.contains($0) }
    }
}
