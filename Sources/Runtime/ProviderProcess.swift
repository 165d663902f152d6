// How a provider turns an image's configuration and a requestor's command into one process:
// the numeric `User` or root, `WorkingDir` or `/`, the environment the runtime version gives,
// and the command exec'd by the path given, never looked up in PATH (GOLEM.md §1.2, §1.5).
import GVMI
import ImageSpec

/// What is started: exactly the arguments of Golem's guest init's `execve`, plus the identity
/// and directory it switches to first.
public struct ProviderProcess: Sendable, Equatable {
    /// The path given to execve: absolute, or relative to `workingDirectory` (no PATH search).
    public var executable: String
    /// argv; argv[0] is the executable's base name, as the exe-unit passes it.
    public var arguments: [String]
    public var environment: [String]
    public var uid: UInt32
    public var gid: UInt32
    public var workingDirectory: String

    public init(executable: String, arguments: [String], environment: [String], uid: UInt32, gid: UInt32, workingDirectory: String) {
        self.executable = executable; self.arguments = arguments; self.environment = environment
        self.uid = uid; self.gid = gid; self.workingDirectory = workingDirectory
    }
}

/// What the requestor asks for.
public enum ProcessRequest: Sendable, Equatable {
    /// An ExeScript `run { entry_point, args }`: `command[0]` is the entry point.
    case command([String])
    /// `start` with `start-entrypoint`: the image's ENTRYPOINT followed by its CMD.
    case entrypoint
    /// One line of an interactive session, run as `SHELL -c LINE` (ya-runtime-dbg's way).
    case shellLine(shell: String, line: String)
}

/// The provider's reading of an image configuration.
public enum ProviderSemantics {
    /// `User` as ya-runtime-vm parses it (deploy.rs): `uid:gid`, both unsigned 32-bit numbers
    /// after trimming; anything else silently becomes root. The warning says so when the image
    /// asked for someone else.
    public static func identity(user: String?) -> (uid: UInt32, gid: UInt32, warning: String?) {
        let text = user ?? ""
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        if parts.count == 2, let uid = UInt32(parts[0].trimmingSpaces), let gid = UInt32(parts[1].trimmingSpaces) {
            return (uid, gid, nil)
        }
        guard !text.trimmingSpaces.isEmpty else { return (0, 0, nil) }
        return (
            0, 0,
            "the image's User \(quoted(text)) is not a numeric uid:gid; Golem's runtime then runs every process as root (0:0), and so does this run (write USER 1000:1000 to run as that user on a provider)"
        )
    }

    /// The process a provider starts for `request`, and the warnings a user should read.
    public static func process(
        config: ContainerConfig, request: ProcessRequest, version: GolemRuntimeVersion,
        extraEnvironment: [String]
    ) throws(RunError) -> (process: ProviderProcess, warnings: [String]) {
        var warnings: [String] = []
        let who = identity(user: config.user)
        if let w = who.warning { warnings.append(w) }
        let argv: [String]
        switch request {
        case .command(let command):
            guard let first = command.first, !first.isEmpty else { throw .emptyCommand }
            argv = command
        case .entrypoint:
            argv = (config.entrypoint ?? []) + (config.cmd ?? [])
            guard let first = argv.first, !first.isEmpty else { throw .noEntrypoint }
        case .shellLine(let shell, let line):
            argv = [shell, "-c", line]
        }
        var environment: [String] = []
        if version.passesEnvironment {
            environment = merged(config.env ?? [], extraEnvironment)
        } else if !extraEnvironment.isEmpty {
            warnings.append(
                "--env is dropped: ya-runtime-vm 0.5.x starts every process with an empty environment; on a provider write /bin/sh -c 'VAR=value command' (or run with --golem-runtime 0.4 to see what 0.4.x providers do)"
            )
        }
        let directory = config.workingDir.map { $0.trimmingSpaces }.flatMap { $0.isEmpty ? nil : $0 } ?? "/"
        let executable = argv[0]
        let process = ProviderProcess(
            executable: executable, arguments: [baseName(executable)] + argv.dropFirst(),
            environment: environment, uid: who.uid, gid: who.gid, workingDirectory: directory)
        return (process, warnings)
    }

    /// Variables in order, a later `K=...` replacing an earlier one in place.
    static func merged(_ base: [String], _ extra: [String]) -> [String] {
        var out = base
        for entry in extra {
            let key = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0]
            if let i = out.firstIndex(where: { $0.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)[0] == key }) {
                out[i] = entry
            } else {
                out.append(entry)
            }
        }
        return out
    }

    /// The exe-unit's argv[0]: the entry point's last path component.
    static func baseName(_ path: String) -> String {
        let trimmed = path.hasSuffix("/") && path.count > 1 ? String(path.dropLast()) : path
        return trimmed.split(separator: "/").last.map(String.init) ?? trimmed
    }

    /// Why a command that is no path cannot start on a provider, and what to write instead.
    /// `found` lists where the image has a program of that name.
    public static func relativeCommandExplanation(_ command: String, found: [String]) -> String {
        var text =
            "\(quoted(command)) is not a path: Golem's runtime execs the command exactly as given (execve, no PATH search, relative to the working directory), so it fails on a provider too."
        if found.isEmpty {
            text +=
                " The image has no \(command) in /usr/local/sbin, /usr/local/bin, /usr/sbin, /usr/bin, /sbin or /bin; give the program's absolute path."
        } else {
            text += " Write its absolute path: \(found.joined(separator: " or "))."
        }
        return text
    }

    /// A command without a slash is exec'd relative to the working directory by Golem's init:
    /// it fails unless the image has it there. `exists` says whether a path is in the image.
    public static func checkRelativeCommand(_ p: ProviderProcess, exists: (String) -> Bool) throws(RunError) {
        guard !p.executable.contains("/") else { return }
        let inCwd = (p.workingDirectory.hasSuffix("/") ? p.workingDirectory : p.workingDirectory + "/") + p.executable
        guard !exists(inCwd) else { return }
        let found = searchedDirectories.map { $0 + "/" + p.executable }.filter(exists)
        throw .commandNotFound(p.executable, explanation: relativeCommandExplanation(p.executable, found: found))
    }

    /// The directories a shell's default PATH would search, where the explanation looks.
    public static let searchedDirectories = ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]

    static func quoted(_ s: String) -> String { "\"" + s + "\"" }
}

extension StringProtocol {
    var trimmingSpaces: String {
        let scalars = unicodeScalars.drop { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        var s = String(String.UnicodeScalarView(scalars))
        while let last = s.unicodeScalars.last, last == " " || last == "\t" || last == "\n" || last == "\r" {
            s.unicodeScalars.removeLast()
        }
        return s
    }
}
