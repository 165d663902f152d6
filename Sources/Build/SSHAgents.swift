// `--ssh` as docker build takes it.
import Foundation
import Executor
import SSHAgent
#if canImport(Glibc)
import Glibc
#endif

/// `--ssh` values as docker build takes them: `ID`, `ID=SOCKET` (an SSH agent's socket) or
/// `ID=KEYFILE[,KEYFILE...]`, whose keys an agent of gvmc's own serves for the build.
public struct SSHAgents {
    /// ID → the agent socket RUN --mount=type=ssh relays to.
    public private(set) var sockets: [String: String] = [:]
    var started: [SSHKeyAgent] = []

    public init(_ flags: [String]) throws(BuildError) {
        (sockets, started) = try Self.parse(flags)
    }

    /// Stops the agents gvmc started for key files.
    public func stop() { for a in started { a.stop() } }

    static func parse(_ flags: [String]) throws(BuildError) -> ([String: String], [SSHKeyAgent]) {
        var agents: [String: String] = [:]
        var started: [SSHKeyAgent] = []
        for flag in flags {
            let kv = flag.split(separator: "=", maxSplits: 1).map(String.init)
            let id = kv[0]
            guard !id.isEmpty else { throw .options("--ssh \(flag): expected ID or ID=SOCKET") }
            guard let path = kv.count == 2 ? kv[1] : ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"], !path.isEmpty else {
                throw .options(
                    "--ssh \(id): SSH_AUTH_SOCK is not set; start an agent (eval $(ssh-agent); ssh-add) or give --ssh \(id)=SOCKET")
            }
            var st = stat()
            if stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK {
                agents[id] = path
                continue
            }
            do {
                let keys = try path.split(separator: ",").flatMap { try SSHPrivateKey.load(String($0)) }
                let agent = try SSHKeyAgent(keys: keys)
                TemporaryDirectories.shared.add(agent.directory)  // removed on Ctrl-C
                started.append(agent)
                agents[id] = agent.socketPath
            } catch {
                for a in started { a.stop() }
                throw .options("--ssh \(id): \(error)")
            }
        }
        return (agents, started)
    }
}
