// Where a build's steps get what lies outside the build context: base images (BaseImages), git
// repositories through GitSource, URLs through HTTPTransport, in the forms the executor takes.
import GitSource
import HTTPTransport
import Executor

extension BaseImages: BaseImageSource {}

/// ADD of git repositories through GitSource (smart HTTP and SSH).
struct GitFetchRemote: GitRemote {
    func resolve(_ url: String, access: GitAccess) throws -> String {
        try GitFetch.resolve(
            url, authorization: GitFetch.authorization(header: access.header, token: access.token), sshAgent: access.sshAgent)
    }

    func checkout(
        _ url: String, id: String, into directory: String, keepGitDir: Bool, access: GitAccess
    ) throws -> (commit: String, time: Int64) {
        try GitFetch.checkout(
            url, id: id, into: directory, keepGitDir: keepGitDir,
            authorization: GitFetch.authorization(header: access.header, token: access.token), sshAgent: access.sshAgent)
    }
}

/// ADD of URLs through HTTPTransport.
struct HTTPURLFetcher: URLFetcher {
    func fetch(_ url: String, to fd: Int32) throws -> Int64? { try URLDownload.fetch(url, to: fd) }
}
