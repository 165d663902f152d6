// The static Golem rules (GVM001–GVM017, GVM019) over the final stage of a Dockerfile.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax

struct GolemRules {
    let walker: StageWalker
    let stages: [WalkedStage]
    var report: (String, SyntaxNode, String, String?) -> Void

    static let osDirectories: Set<String> = [
        "/", "/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/libx32", "/proc", "/run", "/sbin",
        "/sys", "/usr", "/usr/bin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/sbin", "/usr/share"
    ]
    static let contentDirectories: Set<String> = ["/root", "/home", "/opt", "/srv", "/var", "/var/lib", "/var/www", "/usr/local"]
    static let databaseDirectories = ["/var/lib/postgresql", "/var/lib/mysql", "/var/lib/mongodb", "/data/db", "/var/lib/redis"]
    static let runtimeMounts = ["/tmp", "/dev", "/proc", "/sys"]

    func expand(_ word: String, _ w: WalkedInstruction) -> String? {
        guard let v = try? walker.expand(word, w.variables, escape: walker.escape) else { return nil }
        return v
    }

    func run() {
        guard let final = stages.last else { return }
        let items = final.instructions

        // Volumes of the final stage (raw and normalised), in order.
        var volumes: [(raw: String, path: String, node: SyntaxNode, rawWord: String)] = []
        for w in items {
            guard case .volume(let list) = w.instruction.kind else { continue }
            for raw in list {
                let value = expand(raw, w) ?? raw
                volumes.append((value, resolvePath(value, against: "/"), w.instruction.node, raw))
            }
        }

        // What the final stage inherits: VOLUMEs, CMD/ENTRYPOINT and USER of the stages it is
        // built on, and of the external base image when its configuration is known.
        var inheritedVolumes: [String] = final.baseConfig?.inheritedVolumes ?? []
        var inheritedEntrypoint: [String]? = final.baseConfig?.inheritedEntrypoint
        var inheritedCmd: [String]? = final.baseConfig?.inheritedCmd
        var inheritedUser: String? = final.baseConfig?.inheritedUser
        var chain: [WalkedStage] = []
        var cursor = final.parentIndex
        while let i = cursor { chain.insert(stages[i], at: 0); cursor = stages[i].parentIndex }
        for ancestor in chain {
            for w in ancestor.instructions {
                switch w.instruction.kind {
                case .volume(let list): inheritedVolumes += list.map { expand($0, w) ?? $0 }
                case .entrypoint(let line):
                    inheritedEntrypoint = line.map { $0.prependShell ? ["/bin/sh", "-c"] + $0.arguments : $0.arguments }; inheritedCmd = nil
                case .cmd(let line): inheritedCmd = line.prependShell ? ["/bin/sh", "-c"] + line.arguments : line.arguments
                case .user(let u): inheritedUser = u
                default: break
                }
            }
        }
        for v in inheritedVolumes { volumes.append((v, resolvePath(v, against: "/"), final.stage.fromNode, v)) }
        if let platform = final.baseConfig?.platformName {
            let arch = final.baseConfig?.architecture?.lowercased() ?? ""
            if final.baseConfig?.os?.lowercased() != "linux" || !(arch == "amd64" || arch == "x86_64") {
                report(
                    "GVM010", final.stage.fromNode,
                    "final stage's base image is \"\(platform)\"; Golem providers run x86_64 (linux/amd64) VMs only", nil)
            }
        }

        // GVM016 / GVM003 / GVM010 at the final FROM.
        if final.isScratch {
            report(
                "GVM016", final.stage.fromNode,
                "final stage is FROM scratch: no /etc and no /bin/sh; the compiler must add /etc, /proc and /sys and requestors cannot use a shell",
                nil)
        }
        if volumes.isEmpty {
            report("GVM003", final.stage.fromNode, "no VOLUME declared: file transfers have no target and all writes go to RAM", nil)
        }
        if let platform = final.stage.from.platform, !platform.contains("$") {
            let p = platform.lowercased()
            let ok = ["linux/amd64", "amd64", "linux/x86_64", "x86_64", "linux/x86-64"].contains(p) || p.hasPrefix("linux/amd64/")
            if !ok {
                report(
                    "GVM010", final.stage.fromNode,
                    "final stage targets \"\(platform)\"; Golem providers run x86_64 (linux/amd64) VMs only", nil)
            }
        }

        var lastWorkdir: (path: String, node: SyntaxNode)?
        var lastUser: (String, SyntaxNode)?
        var lastEntrypoint: (CommandLine?, SyntaxNode)?
        var lastCmd: (CommandLine, SyntaxNode)?

        for w in items {
            let node = w.instruction.node
            switch w.instruction.kind {
            case .cmd(let line):
                report(
                    "GVM001", node,
                    "CMD is not run on Golem unless the requestor starts it with `start-entrypoint`; run your command explicitly", nil)
                lastCmd = (line, node)
            case .entrypoint(let line):
                report(
                    "GVM001", node,
                    "ENTRYPOINT is not run on Golem unless the requestor starts it with `start-entrypoint`; run your command explicitly",
                    nil)
                lastEntrypoint = (line, node)
            case .workdir(let path):
                let resolved = resolvePath(expand(path, w) ?? path, against: w.workdir)
                lastWorkdir = (resolved, node)
                if let mount = Self.runtimeMounts.first(where: { isAtOrBelow(resolved, $0) }) {
                    report(
                        "GVM009", node,
                        "WORKDIR \"\(resolved)\" is under \(mount), which the VM remounts at boot; content placed there will be gone", path)
                }
            case .user(let user):
                lastUser = (user, node)
            case .copy(let c):
                checkCopy(c.sources, w: w, node: node, volumes: volumes, isAdd: false)
            case .add(let a):
                checkCopy(a.sources, w: w, node: node, volumes: volumes, isAdd: true)
            case .expose:
                report("GVM011", node, "EXPOSE has no effect on Golem", nil)
            case .healthcheck:
                report("GVM011", node, "HEALTHCHECK has no effect on Golem", nil)
            case .stopSignal:
                report("GVM011", node, "STOPSIGNAL has no effect on Golem (processes are killed with SIGKILL)", nil)
            case .onbuild:
                report("GVM011", node, "ONBUILD has no effect on Golem", nil)
            case .env(let pairs):
                report(
                    "GVM014", node,
                    "ENV is not applied on current providers (ya-runtime-vm 0.5.x starts processes with an empty environment); pass variables in the command",
                    nil)
                for p in pairs where Self.looksSecret(p.key) {
                    report(
                        "GVM012", node,
                        "\"\(p.key)\" looks like a secret; the image config (ENV, LABEL) is embedded in the publicly downloadable .gvmi",
                        p.key)
                }
            case .label(let pairs):
                for p in pairs where Self.looksSecret(p.key) {
                    report(
                        "GVM012", node,
                        "\"\(p.key)\" looks like a secret; the image config (ENV, LABEL) is embedded in the publicly downloadable .gvmi",
                        p.key)
                }
            case .arg(let defs):
                for d in defs where (d.defaultValue.map { !$0.isEmpty } ?? false) && Self.looksSecret(d.key) {
                    report(
                        "GVM012", node,
                        "\"\(d.key)\" looks like a secret; its default is visible in the image history and build environment", d.key)
                }
            case .volume:
                break
            default:
                break
            }
        }

        // GVM002: the effective command (ENTRYPOINT in this stage clears an inherited CMD).
        if let (entry, node) = lastEntrypoint, let entry {
            checkAbsolute(entry, node: node, name: "ENTRYPOINT")
        } else if lastEntrypoint == nil, let (cmd, node) = lastCmd {
            if let inherited = inheritedEntrypoint, let program = inherited.first {
                if !program.hasPrefix("/") {
                    report(
                        "GVM002", final.stage.fromNode,
                        "inherited exec-form ENTRYPOINT program \"\(program)\" is not an absolute path; Golem execs it without PATH lookup",
                        nil)
                }
            } else {
                checkAbsolute(cmd, node: node, name: "CMD")
            }
        } else if lastEntrypoint == nil, lastCmd == nil, let program = (inheritedEntrypoint ?? inheritedCmd)?.first, !program.hasPrefix("/")
        {
            report(
                "GVM002", final.stage.fromNode,
                "inherited exec-form \(inheritedEntrypoint != nil ? "ENTRYPOINT" : "CMD") program \"\(program)\" is not an absolute path; Golem execs it without PATH lookup",
                nil)
        }
        if lastUser == nil, let user = inheritedUser, !Self.isNumericUserGroup(user) {
            report(
                "GVM008", final.stage.fromNode,
                "inherited USER \"\(user)\" is not numeric \"uid:gid\"; gvmkit-build drops USER and ya-runtime-vm runs such images as root (0:0)",
                nil)
        }
        // GVM008: the user the VM would run as.
        if let (user, node) = lastUser {
            let trimmed = user.trimmingCharacters(in: " \t")
            if !Self.isNumericUserGroup(trimmed) {
                report(
                    "GVM008", node,
                    "USER \"\(trimmed)\" is not numeric \"uid:gid\"; gvmkit-build drops USER and ya-runtime-vm runs such images as root (0:0)",
                    trimmed)
            }
        }
        // GVM004: where processes start.
        if let (workdir, node) = lastWorkdir, !volumes.isEmpty, !volumes.contains(where: { isAtOrBelow(workdir, $0.path) }) {
            report(
                "GVM004", node,
                "WORKDIR \"\(workdir)\" is outside every VOLUME: files written there consume VM RAM (128 MiB cap on older providers)", nil)
        }
        // Volume rules.
        for (i, v) in volumes.enumerated() {
            if !Self.isCleanAbsolute(v.raw) {
                report(
                    "GVM015", v.node,
                    "VOLUME \"\(v.raw)\" is not a clean absolute path; the guest mount and transfer path matching will fail", v.rawWord)
            }
            if Self.osDirectories.contains(v.path) || ["/proc", "/sys", "/dev"].contains(where: { isAtOrBelow(v.path, $0) }) {
                report(
                    "GVM006", v.node, "VOLUME \"\(v.path)\" covers / or an OS directory; the VM will not start or the OS disappears",
                    v.rawWord)
            } else if Self.contentDirectories.contains(v.path) {
                report("GVM007", v.node, "VOLUME \"\(v.path)\" shadows a directory that usually holds image content", v.rawWord)
            }
            if let db = Self.databaseDirectories.first(where: { isAtOrBelow(v.path, $0) }) {
                report(
                    "GVM019", v.node,
                    "VOLUME \"\(v.path)\" looks like a database data dir (\(db)); 9p volumes lack features some databases need", v.rawWord)
            }
            for earlier in volumes[..<i] where earlier.path != v.path {
                let (a, b) = (earlier.path, v.path)
                if (a != "/" && isAtOrBelow(b, a)) || (b != "/" && isAtOrBelow(a, b)) {
                    report(
                        "GVM017", v.node, "nested VOLUMEs \"\(a)\" and \"\(b)\": mount order is unspecified, the parent may hide the child",
                        v.rawWord)
                }
            }
        }
    }

    func checkCopy(
        _ s: SourcesAndDestination, w: WalkedInstruction, node: SyntaxNode,
        volumes: [(raw: String, path: String, node: SyntaxNode, rawWord: String)], isAdd: Bool
    ) {
        let name = isAdd ? "ADD" : "COPY"
        let destination = resolvePath(expand(s.destination, w) ?? s.destination, against: w.workdir)
        if let v = volumes.first(where: { isAtOrBelow(destination, $0.path) }) {
            report(
                "GVM005", node,
                "content placed in \"\(destination)\" is hidden at runtime: VOLUME \"\(v.path)\" is mounted over it as an empty host directory",
                s.destination)
        }
        if let mount = Self.runtimeMounts.first(where: { isAtOrBelow(destination, $0) }) {
            report(
                "GVM009", node, "\"\(destination)\" is under \(mount), which the VM remounts at boot; this content will be gone",
                s.destination)
        }
        for source in s.sourcePaths {
            let base = source.split(separator: "/").last.map(String.init) ?? source
            if Self.isCredentialFile(base) {
                report("GVM013", node, "\(name) of \"\(source)\" puts a credential/key file into a publicly downloadable image", source)
            }
        }
    }

    func checkAbsolute(_ line: CommandLine, node: SyntaxNode, name: String) {
        guard !line.prependShell, let program = line.arguments.first, !program.hasPrefix("/") else { return }
        report(
            "GVM002", node, "exec-form \(name) program \"\(program)\" is not an absolute path; Golem execs it without PATH lookup", program)
    }

    static func isNumericUserGroup(_ s: String) -> Bool {
        let parts = s.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 2 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    static func isCleanAbsolute(_ s: String) -> Bool {
        guard s.hasPrefix("/") else { return false }
        if s == "/" { return true }
        if s.hasSuffix("/") || s.contains("//") { return false }
        return !s.split(separator: "/").contains { $0 == "." || $0 == ".." }
    }

    /// GOLEM.md §6 GVM012: key upper-cased, `.`/`-` → `_`, matched against secret words.
    static func looksSecret(_ key: String) -> Bool {
        let k = key.uppercased().map { $0 == "." || $0 == "-" ? "_" : $0 }
        let parts = String(k).split(separator: "_", omittingEmptySubsequences: false).map(String.init)
        let words: Set<String> = ["PASSWORD", "PASSWD", "PASS", "SECRET", "TOKEN", "MNEMONIC", "CREDENTIAL", "CREDENTIALS"]
        if parts.contains(where: { words.contains($0) }) { return true }
        let joined = String(k)
        for prefix in ["API", "PRIVATE", "ACCESS", "SECRET", "AUTH"]
        where joined.contains(prefix + "KEY") || joined.contains(prefix + "_KEY") {
            return true
        }
        return false
    }

    /// GVM013's file names: .env, .env.*, .api-env, id_rsa..., credentials(.json), keystore*, *.pem/.key/.p12/.pfx.
    static func isCredentialFile(_ name: String) -> Bool {
        let n = name.lowercased()
        if n == ".env" || n.hasPrefix(".env.") || n == ".api-env" { return true }
        if ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"].contains(n) { return true }
        if n == "credentials" || n == "credentials.json" || n.hasPrefix("keystore") { return true }
        return [".pem", ".key", ".p12", ".pfx"].contains { n.hasSuffix($0) }
    }
}
