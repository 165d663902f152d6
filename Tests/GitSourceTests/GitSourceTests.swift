// What git itself would do with the parts of a git source gvmc reads without a server: the
// URL fragment, relative submodule URLs, .gitmodules and credentials in URLs.
import Testing
@testable import GitSource

@Suite struct GitSourceTests {
    @Test func fragmentsSplitAsBuildKitSplitsThem() throws {
        let full = try GitFetch.Source("https://h/r.git#v1.2:sub/dir")
        #expect(full.repository == "https://h/r.git" && full.ref == "v1.2" && full.subdir == "sub/dir" && !full.pinned)
        let pinned = try GitFetch.Source("https://h/r.git#" + String(repeating: "ab", count: 20))
        #expect(pinned.pinned && pinned.subdir == nil)
        let root = try GitFetch.Source("https://h/r.git#:.")
        #expect(root.ref == nil && root.subdir == nil, "an empty ref is the default branch, `.` the whole tree")
        #expect(throws: GitError.self) { try GitFetch.Source("file:///etc/r.git") }
    }

    /// `git submodule init` resolves `./` and `../` against the superproject's URL, one path
    /// component per `../` (checked against git 2.39). Past the host git writes a broken URL
    /// (`https:/x.git`); gvmc stops at the host.
    @Test func relativeSubmoduleURLsResolveAsGitResolvesThem() {
        let base = "https://h/group/app.git"
        #expect(GitFetch.submoduleURL("../lib.git", of: base) == "https://h/group/lib.git")
        #expect(GitFetch.submoduleURL("../../other/lib.git", of: base) == "https://h/other/lib.git")
        #expect(GitFetch.submoduleURL("./sub.git", of: base) == "https://h/group/app.git/sub.git")
        #expect(GitFetch.submoduleURL("../../../../x.git", of: base) == "https://h/x.git")
        #expect(GitFetch.submoduleURL("https://elsewhere/x.git", of: base) == "https://elsewhere/x.git")
        #expect(GitFetch.submoduleURL("../lib.git", of: base + "/") == "https://h/group/lib.git")
        #expect(GitFetch.submoduleURL("../lib.git", of: "git@h:group/app.git") == "git@h:group/lib.git")
        #expect(GitFetch.submoduleURL("../lib.git", of: "git@h:app.git") == "git@h:lib.git")
    }

    @Test func gitmodulesSectionsGivePathsAndURLs() {
        let text = """
            # comment
            [submodule "a"]
            \tpath = vendor/a
            \turl = ../a.git
            [core]
            \tpath = not/a/submodule
            \turl = https://no/
            [submodule "b c"]
            ; another comment
            \tURL = "https://h/b.git"
            \tpath = "lib/b"
            [submodule "incomplete"]
            \tpath = x

            """
        let parsed = GitFetch.parseGitModules(Array(text.utf8))
        #expect(parsed.map { "\($0.path)=\($0.url)" } == ["vendor/a=../a.git", "lib/b=https://h/b.git"])
    }

    /// SSH URLs as git reads them: scp-like `user@host:path` (relative to the login's home)
    /// and `ssh://user@host:port/path`, and the command git runs on the server.
    @Test func sshURLsPointWhereGitWouldGo() throws {
        let scp = try #require(SSHRemote("git@github.com:org/repo.git"))
        #expect(scp == SSHRemote(user: "git", host: "github.com", port: 22, path: "org/repo.git"))
        #expect(scp.uploadPack == "git-upload-pack 'org/repo.git'")
        #expect(
            SSHRemote("ssh://git@host.example:2222/srv/r.git")
                == SSHRemote(user: "git", host: "host.example", port: 2222, path: "/srv/r.git"))
        #expect(SSHRemote("ssh://git@[::1]:2200/r.git") == SSHRemote(user: "git", host: "::1", port: 2200, path: "/r.git"))
        #expect(SSHRemote("ssh://git@host/~user/r.git")?.path == "~user/r.git")
        #expect(SSHRemote("git@h:it's.git")?.uploadPack == "git-upload-pack 'it'\\''s.git'")
        #expect(SSHRemote("https://h/r.git") == nil && SSHRemote("./dir:x") == nil && SSHRemote("ssh://h:notaport/r") == nil)
        let source = try GitFetch.Source("git@github.com:org/repo.git#v1:sub")
        #expect(
            source.repository == "git@github.com:org/repo.git" && source.ref == "v1" && source.subdir == "sub"
                && source.ssh?.host == "github.com")
    }

    /// known_hosts patterns as OpenSSH matches them: `[host]:port` for other ports (the
    /// brackets literal), * and ?, !negation, hashed `|1|salt|hmac` names.
    @Test func knownHostsPatterns() {
        #expect(KnownHosts.matches("[127.0.0.1]:2222", host: "127.0.0.1", port: 2222))
        #expect(!KnownHosts.matches("127.0.0.1", host: "127.0.0.1", port: 2222))
        #expect(KnownHosts.matches("github.com,140.82.1.1", host: "GitHub.com", port: 22))
        #expect(KnownHosts.matches("*.example.com", host: "git.example.com", port: 22))
        #expect(KnownHosts.matches("git?.example.com", host: "git1.example.com", port: 22))
        #expect(!KnownHosts.matches("*.example.com,!bad.example.com", host: "bad.example.com", port: 22))
        // `ssh-keygen -H` of "github.com" with this salt.
        #expect(KnownHosts.matches("|1|XTH5pzyz77HmzPVxGpVISLZF4ks=|1eusGtNEvS5yVh2cK3sEB5OzZlo=", host: "github.com", port: 22))
        #expect(!KnownHosts.matches("|1|XTH5pzyz77HmzPVxGpVISLZF4ks=|1eusGtNEvS5yVh2cK3sEB5OzZlo=", host: "gitlab.com", port: 22))
    }

    @Test func credentialsInURLsAreRedacted() {
        #expect(GitFetch.redacted("https://user:token@h/r.git") == "https://h/r.git")
        #expect(GitFetch.redacted("https://h/r.git") == "https://h/r.git")
        #expect(GitFetch.redacted("https://h/a@b/r.git") == "https://h/a@b/r.git", "an @ in the path is not userinfo")
        #expect(GitFetch.credentialScope("https://github.com/o/r.git") == "https://github.com/")
        #expect(GitFetch.credentialScope("https://gitlab.example/o/r.git") == "https://gitlab.example/o/r.git")
    }
}
