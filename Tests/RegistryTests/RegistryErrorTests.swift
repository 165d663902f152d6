// RegistryError keeps what went wrong as fields: the status of a registry's reply, the
// transport failure, the expected and actual digests, the errno, the wrapped error; the message
// is derived from them and reads as before.
import Crypto
import Foundation
import HTTPTransport
import ImageSpec
import Testing
@testable import Registry

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
struct RegistryErrorTests {
    func client(_ server: MisbehavingServer, _ repository: String) throws -> RegistryClient {
        var options = RegistryOptions()
        options.backoff = 0.01
        options.maxAttempts = 2
        return try RegistryClient(reference: try ImageReference("127.0.0.1:\(server.port)/\(repository)"), options: options)
    }

    @Test func notFoundKeepsTheStatus() throws {
        let server = try MisbehavingServer()
        let error = try #require(throws: RegistryError.self) { try client(server, "nothing").manifest("latest") }
        guard case .status(let url, let status, let reply, let attempts) = error.kind else {
            Issue.record("\(error.kind)")
            return
        }
        #expect(status == 404 && error.status == 404 && reply == nil && attempts == nil && !error.isTransient)
        #expect(error.message == "\(url): not found" && url.hasSuffix("/v2/nothing/manifests/latest"), "\(error.message)")
    }

    @Test func aBlobWithAnotherDigestExposesExpectedAndActual() throws {
        let blob = (0..<(1 << 16)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let server = try MisbehavingServer(blob: blob)
        let actual = "sha256:" + SHA256.hash(data: blob).map { String(format: "%02x", $0) }.joined()
        let wanted = "sha256:" + String(repeating: "0", count: 64)
        let path = server.dir + "/out"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let descriptor = Descriptor(mediaType: nil, digest: wanted, size: Int64(blob.count), platform: nil, urls: nil, annotations: nil)
        let error = try #require(throws: RegistryError.self) { try client(server, "short").blob(descriptor, to: fd) }
        guard case .digestMismatch(let subject, let check, let expected, let got) = error.kind else {
            Issue.record("\(error.kind)")
            return
        }
        #expect(subject == "blob \(wanted)" && check == .blob && expected == wanted && got == actual)
        #expect(error.message == "blob \(wanted): the registry sent bytes whose digest is \(actual); nothing was cached")
    }

    @Test func aTransportFailureKeepsTheTransportError() throws {
        var port = 0
        do { port = try MisbehavingServer().port }  // stopped at the end of the block: nothing listens there
        var options = RegistryOptions()
        options.backoff = 0.01
        options.maxAttempts = 2
        let client = try RegistryClient(reference: try ImageReference("127.0.0.1:\(port)/gone"), options: options)
        let error = try #require(throws: RegistryError.self) { try client.manifest("latest") }
        guard case .transport(let subject, let cause, let attempts, let hint) = error.kind else {
            Issue.record("\(error.kind)")
            return
        }
        #expect(attempts == 2 && hint == nil && error.isTransient)
        #expect(error.cause is TransportError && error.status == nil)
        #expect(error.message == "\(subject): \(cause.message) (after 2 attempts)")
    }

    @Test func messagesAreDerivedFromTheFields() {
        let reply = RegistryError.Reply(code: "DENIED", message: "no")
        let denied = RegistryError(.authFailed(url: "https://r/v2/x", status: 403, reply: reply, registry: "r"))
        #expect(
            denied.message
                == "https://r/v2/x: access denied: DENIED no; give credentials with --registry-auth r=USER:PASSWORD, GVMC_REGISTRY_AUTH or ~/.docker/config.json"
        )
        let busy = RegistryError(.status(url: "https://r/v2/x", status: 503, reply: nil, attempts: 5))
        #expect(busy.message == "https://r/v2/x: HTTP 503 (after 5 attempts)" && busy.isTransient && busy.status == 503)
        let system = RegistryError(.system(path: "/c/x", errno: ENOENT, before: "cache: cannot create ", after: ""))
        #expect(system.message == "cache: cannot create /c/x: No such file or directory" && system.errno == ENOENT)
        let wrapped = RegistryError("blob sha256:1: upload of /f failed", cause: busy)
        #expect(wrapped.message == "blob sha256:1: upload of /f failed: https://r/v2/x: HTTP 503 (after 5 attempts)")
        #expect((wrapped.cause as? RegistryError)?.status == 503 && !wrapped.isTransient)
        let malformed = RegistryError(
            .malformed(source: "r/x", size: 5, head: "<html", cause: ImageSpecError(document: "r/x", .notJSON("bad"))))
        #expect(malformed.message == "r/x: the registry sent a malformed manifest (not JSON; 5 bytes: \"<html\")")
        #expect(malformed.cause is ImageSpecError)
    }
}
