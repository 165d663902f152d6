// `gvmc run IMAGE` without a command: ya-runtime-dbg's session. Each line typed runs as
// `SHELL -c LINE` (a new process each time, in the same running image: files written stay,
// the working directory does not), its output and exit code shown; end of input ends it.
#if canImport(Glibc)
import Glibc
#endif

/// The interactive session of `gvmc run IMAGE` without a command: one `SHELL -c LINE` per line.
public enum InteractiveSession {
    /// Reads lines from standard input until its end; `execute` runs one request and returns
    /// its exit status. Returns the last command's status (0 when none ran).
    public static func run(shell: String, execute: (ProcessRequest) throws(RunError) -> Int32) -> Int32 {
        let terminal = isatty(0) == 1
        if terminal { say("each line runs as \(shell) -c LINE, as ya-runtime-dbg runs it; Ctrl-D ends the session") }
        var last: Int32 = 0
        while true {
            if terminal { say("▶ ", newline: false) }
            guard let line = readLine(strippingNewline: true) else { break }
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) { continue }
            do {
                last = try execute(.shellLine(shell: shell, line: line))
                say("exit code \(last)")
            } catch {
                last = error.exitStatus
                say("error: \(error)")
            }
        }
        if terminal { say("") }
        return last
    }

    static func say(_ text: String, newline: Bool = true) {
        let s = text + (newline ? "\n" : "")
        _ = s.withCString { write(2, $0, strlen($0)) }
    }
}

extension RunError {
    /// The status `gvmc run` exits with when the command never ran: 127 when it does not exist,
    /// 126 when it cannot be started, 125 when gvmc could not set the run up (as `docker run`).
    public var exitStatus: Int32 {
        switch self {
        case .commandNotFound: return 127
        case .cannotStart(let m): return m.contains(": exec: No such file or directory") ? 127 : 126
        default: return 125
        }
    }
}
