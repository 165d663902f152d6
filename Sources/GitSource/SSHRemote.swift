// Where `ADD git@host:org/repo.git` and `ADD ssh://[user@]host[:port]/path` point, and the
// command git runs there; SSHSession connects.
import Foundation

/// Where an SSH git URL points.
struct SSHRemote: Equatable {
    var user: String
    var host: String
    var port: Int
    var path: String

    init(user: String, host: String, port: Int, path: String) {
        self.user = user; self.host = host; self.port = port; self.path = path
    }

    /// `ssh://[user@]host[:port]/path` or scp-like `[user@]host:path`; nil for other URLs.
    init?(_ repository: String) {
        var rest: Substring
        if repository.hasPrefix("ssh://") || repository.hasPrefix("git+ssh://") {
            rest = repository[repository.range(of: "://")!.upperBound...]
            guard let slash = rest.firstIndex(of: "/") else { return nil }
            var authority = rest[..<slash]
            path = String(rest[slash...])
            if path.hasPrefix("/~") { path = String(path.dropFirst()) }
            user = ""
            if let at = authority.lastIndex(of: "@") {
                user = String(authority[..<at]); authority = authority[authority.index(after: at)...]
            }
            port = 22
            if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
                host = String(authority[authority.index(after: authority.startIndex)..<close])
                let after = authority[authority.index(after: close)...]
                if after.hasPrefix(":") { guard let p = Int(after.dropFirst()) else { return nil }; port = p }
            } else if let colon = authority.lastIndex(of: ":") {
                host = String(authority[..<colon])
                guard let p = Int(authority[authority.index(after: colon)...]) else { return nil }
                port = p
            } else {
                host = String(authority)
            }
        } else {
            // scp-like: no scheme, a colon before any slash.
            guard !repository.contains("://"), let colon = repository.firstIndex(of: ":"),
                !repository[..<colon].contains("/")
            else { return nil }
            rest = repository[..<colon]
            path = String(repository[repository.index(after: colon)...])
            user = ""
            if let at = rest.lastIndex(of: "@") { user = String(rest[..<at]); rest = rest[rest.index(after: at)...] }
            host = String(rest)
            port = 22
        }
        if user.isEmpty { user = ProcessInfo.processInfo.environment["USER"].flatMap { $0.isEmpty ? nil : $0 } ?? "root" }
        guard !host.isEmpty, !path.isEmpty, (1...65535).contains(port) else { return nil }
    }

    /// The command the server runs: git-upload-pack with the path single-quoted, as git sends it.
    var uploadPack: String { "git-upload-pack '" + path.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
