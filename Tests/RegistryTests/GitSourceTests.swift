// What git itself would do with the parts of a git source gvmc reads without a server: the
// URL fragment, relative submodule URLs, .gitmodules and credentials in URLs.
import Testing
@testable import Registry

@Suite struct GitSourceTests {
    @Test func fragmentsSplitAsBuildKitSplitsThem() throws {
        let full = try GitFetch.Source("https://h/r.git#v1.2:sub/dir")
        #expect(full.repository == "https://h/r.git" && full.ref == "v1.2" && full.subdir == "sub/dir" && !full.pinned)
        let pinned = try GitFetch.Source("https://h/r.git#" + String(repeating: "ab", count: 20))
        #expect(pinned.pinned && pinned.subdir == nil)
        let root = try GitFetch.Source("https://h/r.git#:.")
        #expect(root.ref == nil && root.subdir == nil, "an empty ref is the default branch, `.` the whole tree")
        #expect(throws: GitError.self) { try GitFetch.Source("git@h:r.git") }
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

    @Test func credentialsInURLsAreRedacted() {
        #expect(GitFetch.redacted("https://user:token@h/r.git") == "https://h/r.git")
        #expect(GitFetch.redacted("https://h/r.git") == "https://h/r.git")
        #expect(GitFetch.redacted("https://h/a@b/r.git") == "https://h/a@b/r.git", "an @ in the path is not userinfo")
        #expect(GitFetch.credentialScope("https://github.com/o/r.git") == "https://github.com/")
        #expect(GitFetch.credentialScope("https://gitlab.example/o/r.git") == "https://gitlab.example/o/r.git")
    }
}
