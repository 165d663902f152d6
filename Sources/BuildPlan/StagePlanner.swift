// One stage's instructions, in order: each is expanded with the variables as they were before it,
// then changes the variables, the configuration, or adds a step.
import DockerfileInstructions
import DockerfileSyntax

struct StagePlanner {
    let planner: Planner
    let globals: [String: String?]
    /// Variables visible to expansion: base Env, ENV, and ARGs declared with a value.
    var vars: [String: String]
    /// ARG names declared in this stage (or inherited through FROM <stage>).
    var declared: Set<String>
    var config: ImageConfig
    var cmdSetInStage = false

    init(planner: Planner, globals: [String: String?], vars: [String: String], declared: Set<String>, config: ImageConfig) {
        self.planner = planner; self.globals = globals; self.vars = vars; self.declared = declared; self.config = config
    }

    func expand(_ word: String, _ node: SyntaxNode) throws(DockerfileError) -> String {
        try planner.expand(word, vars, node: node)
    }

    /// The RUN environment: image Env, then ARGs declared with a value, then proxy build args.
    var runEnvironment: [String] {
        var env = config.env
        for name in declared.sorted() {
            guard let value = vars[name], config.envValue(name) == nil else { continue }
            env.append((name, value))
        }
        for name in BuildPlanner.proxyArgs.sorted() {
            if let value = planner.options.buildArgs[name], !env.contains(where: { $0.key == name }) { env.append((name, value)) }
        }
        return env.map { "\($0.key)=\($0.value)" }
    }

    var workdir: String { config.workingDir ?? "/" }

    func absolute(_ path: String) -> String {
        if path.hasPrefix("/") { return path }
        let base = workdir.hasSuffix("/") ? workdir : workdir + "/"
        return base + path
    }

    func shellWrap(_ line: CommandLine) -> [String] {
        line.prependShell ? config.effectiveShell + [line.arguments.first ?? ""] : line.arguments
    }

    mutating func apply(_ instruction: Instruction, stageIndexByName: (String) -> Int?, into steps: inout [Step]) throws(DockerfileError) {
        let node = instruction.node
        switch instruction.kind {
        case .env(let pairs):
            let before = self
            for p in pairs {
                let key = try before.expand(p.key, node)
                let value = try before.expand(p.value, node)
                config.setEnv(key, value)
                vars[key] = value
            }
        case .arg(let defs):
            let before = self
            for d in defs {
                declared.insert(d.key)
                var value: String?
                if let v = d.defaultValue { value = try before.expand(v, node) }
                if let global = globals[d.key], d.defaultValue == nil { value = global }
                if let override = planner.options.buildArgs[d.key] { value = override }
                if value == nil, let platform = planner.platformArgs[d.key] { value = platform }
                if let value { vars[d.key] = value } else if config.envValue(d.key) == nil { vars[d.key] = nil }
            }
        case .label(let pairs):
            for p in pairs { config.labels[try expand(p.key, node)] = try expand(p.value, node) }
        case .workdir(let path):
            let expanded = try expand(path, node)
            let resolved = normalize(absolute(expanded))
            config.workingDir = resolved
            if resolved != "/" { steps.append(Step(kind: .makeDirectory(path: resolved, user: config.user), node: node)) }
        case .user(let user):
            config.user = try expand(user, node)
        case .volume(let list):
            for v in list {
                let path = try expand(v, node)
                guard !path.isEmpty else { throw planner.error(node, "VOLUME specified can not be an empty string") }
                if !config.volumes.contains(path) { config.volumes.append(path) }
            }
        case .expose(let ports):
            for raw in ports {
                let words: [String]
                let snapshot = vars
                do { words = try ShellLexer(escapeToken: planner.escape).expandWords(raw, lookup: { snapshot[$0] }) } catch {
                    throw planner.error(node, error.message)
                }
                for port in words {
                    for key in try portKeys(port, node) where !config.exposedPorts.contains(key) { config.exposedPorts.append(key) }
                }
            }
        case .stopSignal(let signal):
            config.stopSignal = try expand(signal, node)
        case .healthcheck(let h):
            config.healthcheck = ImageConfig.healthcheck(
                test: h.test, interval: h.interval, timeout: h.timeout,
                startPeriod: h.startPeriod, startInterval: h.startInterval, retries: h.retries)
        case .shell(let shell):
            config.shell = shell
        case .onbuild(let expression, _):
            config.onBuild.append(expression)
        case .maintainer:
            break
        case .cmd(let line):
            config.cmd = shellWrap(line)
            cmdSetInStage = true
        case .entrypoint(let line):
            config.entrypoint = line.map(shellWrap)
            // An ENTRYPOINT resets a CMD inherited from the base (not one set in this stage).
            if !cmdSetInStage { config.cmd = nil }
        case .run(let r):
            steps.append(Step(kind: .run(try runStep(r, node, stageIndexByName: stageIndexByName)), node: node))
        case .copy(let c):
            var source = CopyStep.Source.context
            if let from = c.from {
                source = stageIndexByName(from).map { .stage($0) } ?? .image(from)
            }
            steps.append(
                Step(
                    kind: .copy(
                        try copyStep(
                            c.sources, source: source, chown: c.chown, chmod: c.chmod, link: c.link,
                            parents: c.parents, excludes: c.excludes, isAdd: false, node)), node: node))
        case .add(let a):
            var step = try copyStep(
                a.sources, source: .context, chown: a.chown, chmod: a.chmod, link: a.link,
                parents: false, excludes: a.excludes, isAdd: true, node)
            step.unpack = a.unpack
            step.keepGitDir = a.keepGitDir ?? false
            step.checksum = try a.checksum.map { v throws(DockerfileError) in
                let value = try expand(v, node)
                // Checked before anything is downloaded: BuildKit's digest syntax, one of the
                // algorithms it accepts and as many lowercase hex digits as that one gives.
                let digits = ["sha256": 64, "sha384": 96, "sha512": 128]
                let parts = value.split(separator: ":", maxSplits: 1)
                guard parts.count == 2, let count = digits[String(parts[0])], parts[1].count == count,
                    parts[1].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
                else {
                    throw planner.error(
                        node, "ADD --checksum=\(value): not a digest (sha256:, sha384: or sha512: and the lowercase hex digits of one)")
                }
                return value
            }
            steps.append(Step(kind: .copy(step), node: node))
        case .from:
            break
        }
    }

    func runStep(
        _ r: RunInstruction, _ node: SyntaxNode, stageIndexByName: (String) -> Int? = { _ in nil }
    ) throws(DockerfileError) -> RunStep {
        var files: [String: String] = [:]
        var argv: [String]
        if r.command.prependShell, r.command.files.count == 1,
            let marker = HeredocWord.parse(r.command.arguments.first?.trimmingCharacters(in: " \t") ?? ""),
            marker.name == r.command.files[0].name
        {
            // `RUN <<EOF`: the body is the script; with `#!` it runs as an executable file.
            let body = r.command.files[0].chomp ? r.command.files[0].chompedContent : r.command.files[0].content
            if body.hasPrefix("#!") {
                let path = "/dev/pipes/heredoc-\(node.startLine)"
                files[path] = body
                argv = config.effectiveShell + [path]
            } else {
                argv = config.effectiveShell + [body]
            }
        } else if r.command.prependShell && !r.command.files.isEmpty {
            // Heredocs inside a longer command: the shell reads them from the joined text.
            var text = r.command.arguments.first ?? ""
            for h in r.command.files { text += "\n" + h.content + h.name }
            argv = config.effectiveShell + [text]
        } else {
            argv = shellWrap(r.command)
        }
        var mounts: [RunMount] = []
        let snapshot = vars
        for m in r.mounts {
            // Mount values are expanded with the stage's variables before use.
            do {
                mounts.append(
                    try RunMount.parse(
                        rawMountValue(m, r, node),
                        expand: { word in
                            try ShellLexer(escapeToken: planner.escape).expand(word, lookup: { snapshot[$0] }).value
                        }))
            } catch {
                throw planner.error(node, cause: error)
            }
        }
        var step = RunStep(
            argv: argv, environment: runEnvironment, workingDirectory: workdir, user: config.user,
            network: r.network, mounts: mounts, files: files)
        step.mountSources = mounts.map { m in m.from.map { from in stageIndexByName(from).map { .stage($0) } ?? .image(from) } ?? .context }
        return step
    }

    /// The `--mount` flag value a parsed mount came from (mounts keep their order).
    func rawMountValue(_ m: RunMount, _ r: RunInstruction, _ node: SyntaxNode) -> String {
        let values = node.flags.filter { $0.hasPrefix("--mount=") }.map { String($0.dropFirst(8)) }
        let index = r.mounts.firstIndex(of: m) ?? 0
        return index < values.count ? values[index] : ""
    }

    func copyStep(
        _ s: SourcesAndDestination, source: CopyStep.Source, chown: String?, chmod: String?, link: Bool, parents: Bool,
        excludes: [String], isAdd: Bool, _ node: SyntaxNode
    ) throws(DockerfileError) -> CopyStep {
        let destination = try expand(s.destination, node)
        var paths: [String] = []
        for p in s.sourcePaths { paths.append(try expand(p, node)) }
        var inline: [(String, String)] = []
        for content in s.sourceContents {
            guard isFileName(content.path) else {
                throw planner.error(node, "\(isAdd ? "ADD" : "COPY") <<\(content.path): " + heredocNameRule)
            }
            if content.expand {
                // COPY heredoc bodies: `$X` expands, quotes are kept, `\` escapes.
                var lexer = ShellLexer(escapeToken: "\\")
                lexer.skipProcessQuotes = true
                let snapshot = vars
                do { inline.append((content.path, try lexer.expand(content.data, lookup: { snapshot[$0] }).value)) } catch {
                    throw planner.error(node, error.message)
                }
            } else {
                inline.append((content.path, content.data))
            }
        }
        let trailing = destination.hasSuffix("/") || destination.hasSuffix("/.") || destination == "."
        var absoluteDestination = normalize(absolute(destination))
        if trailing && absoluteDestination != "/" { absoluteDestination += "/" }
        if paths.count + inline.count > 1 && !absoluteDestination.hasSuffix("/") {
            throw planner.error(
                node,
                "When using \(isAdd ? "ADD" : "COPY") with more than one source file, the destination must be a directory and end with a /")
        }
        return CopyStep(
            source: source, paths: paths, inlineFiles: inline, destination: absoluteDestination,
            chown: try chown.map { v throws(DockerfileError) in try expand(v, node) },
            chmod: try chmod.map { v throws(DockerfileError) in try expand(v, node) },
            link: link, parents: parents, excludes: excludes, isAdd: isAdd, unpack: nil, checksum: nil)
    }

    /// `port[-end][/proto]` → "port/proto" keys, protocol lowercased, ranges expanded.
    func portKeys(_ spec: String, _ node: SyntaxNode) throws(DockerfileError) -> [String] {
        var text = Substring(spec)
        // ip:host:container and host:container: the container part counts.
        if let colon = text.lastIndex(of: ":") { text = text[text.index(after: colon)...] }
        var proto = "tcp"
        if let slash = text.firstIndex(of: "/") {
            proto = text[text.index(after: slash)...].lowercased()
            text = text[..<slash]
            guard ["tcp", "udp", "sctp"].contains(proto) else { throw planner.error(node, "invalid proto: \(proto)") }
        }
        let bounds = text.split(separator: "-", omittingEmptySubsequences: false)
        guard let low = UInt16(bounds[0]), bounds.count <= 2 else { throw planner.error(node, "invalid containerPort: \(text)") }
        let high = bounds.count == 2 ? UInt16(bounds[1]) : low
        guard let high, high >= low else { throw planner.error(node, "invalid range of ports: \(text)") }
        return (low...high).map { "\($0)/\(proto)" }
    }
}

/// POSIX normalisation of an absolute path (`.`, `..`, duplicate slashes; `..` stops at `/`).
public func normalize(_ path: String) -> String {
    var parts: [Substring] = []
    for c in path.split(separator: "/", omittingEmptySubsequences: true) {
        if c == "." { continue }
        if c == ".." { if !parts.isEmpty { parts.removeLast() }; continue }
        parts.append(c)
    }
    return "/" + parts.joined(separator: "/")
}

/// A path resolved against `base` when relative, then normalised.
public func resolvePath(_ path: String, against base: String) -> String {
    normalize(path.hasPrefix("/") ? path : base + "/" + path)
}
