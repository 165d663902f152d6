// Git and download errors keep their cause: the errno of a failed call, the transport failure
// (libcurl's code) under a download that could not reach its server.
import Glibc
@testable import GitSource
import HTTPTransport
import Testing

@Suite struct GitErrors {
    @Test func aPackThatCannotBeReadKeepsItsErrno() {
        do {
            _ = try PackFile(fd: -1)
            Issue.record("a pack on a closed descriptor was read")
        } catch let error as GitError {
            #expect(error.errno == EBADF)
            #expect(error.description == "the packfile: Bad file descriptor")
        } catch {
            Issue.record("unexpected error: \(error)")
        }
    }

    @Test func aSubmodulesFailureIsKeptAsTheCause() {
        let inner = GitError(.system(operation: "mkdir", path: "/x/sub", errno: EACCES))
        let error = GitError(.submodule(path: "lib/sub", url: "https://example.com/sub.git", commit: "0123456789ab", cause: inner))
        #expect((error.cause as? GitError)?.errno == EACCES)
        #expect(error.description == "submodule lib/sub (https://example.com/sub.git at 0123456789ab): mkdir /x/sub: Permission denied")
    }

    @Test func aDownloadThatCannotConnectKeepsTheTransportFailure() {
        let url = "http://127.0.0.1:1/file"
        var template = Array("/tmp/gvmc-download-XXXXXX".utf8CString)
        let fd = mkstemp(&template)
        defer { close(fd); unlink(template) }
        do {
            _ = try URLDownload.fetch(url, to: fd, attempts: 2)
            Issue.record("a download from a closed port succeeded")
        } catch let error as HTTPError {
            let cause = error.cause
            #expect(cause?.code == 7)
            #expect(error.description == "\(url): \(cause?.message ?? "") (after 2 attempts)")
        } catch {
            Issue.record("unexpected error: \(error)")
        }
    }
}
