// Downloads against a loopback server that misbehaves as real servers and proxies do
// (Fixtures/misbehaving_http.py): a dropped blob whose server then ignores Range, a body cut
// short with a Content-Length that agrees with it, a 401 offering two authentication schemes.
import Crypto
import Foundation
import ImageSpec
import Testing
@testable import Registry

/// misbehaving_http.py serving `blob`, stopped at deinit.
final class MisbehavingServer {
    static let script = TestFixtures.directory + "/misbehaving_http.py"
    let dir = NSTemporaryDirectory() + "misbehaving-" + UUID().uuidString
    let process = Process()
    var port = 0
    var log: String { dir + "/log" }

    init(blob: [UInt8] = []) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/blob", contents: Data(blob))
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, dir + "/blob", dir + "/port", log]
        try process.run()
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: dir + "/port") { usleep(50_000) }
        port = Int((try? String(contentsOfFile: dir + "/port", encoding: .utf8)) ?? "") ?? 0
        try #require(port > 0, "the test server did not start")
    }

    /// The requests it received, as "PATH RANGE".
    var requests: [String] { ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init) }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: dir)
    }
}

@Suite(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"), "needs python3"))
struct DownloadResumeTests {
    /// `norange`: the connection drops halfway, and the retry's Range is ignored (200, the whole
    /// blob): the download starts over and finishes. `short`: a 200 whose Content-Length says
    /// half: the rest is asked for with Range and arrives as 206. `multi`: a 401 offering Bearer
    /// and then Negotiate: the Bearer challenge is answered.
    @Test(arguments: ["norange", "short", "multi"])
    func blobsArriveFromMisbehavingServers(mode: String) throws {
        let blob = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 13) }
        let server = try MisbehavingServer(blob: blob)
        let digest = "sha256:" + SHA256.hash(data: blob).map { String(format: "%02x", $0) }.joined()
        var options = RegistryOptions()
        options.backoff = 0.01
        let client = try RegistryClient(reference: try ImageReference("127.0.0.1:\(server.port)/\(mode)"), options: options)
        let path = server.dir + "/out"
        let fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        try #require(fd >= 0)
        defer { close(fd) }
        let descriptor = Descriptor(mediaType: nil, digest: digest, size: Int64(blob.count), platform: nil, urls: nil, annotations: nil)
        #expect(throws: Never.self) { try client.blob(descriptor, to: fd) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data(blob))
        let blobRequests = server.requests.filter { $0.contains("/blobs/") }
        if mode != "multi" {
            #expect(
                blobRequests == ["/v2/\(mode)/blobs/\(digest) -", "/v2/\(mode)/blobs/\(digest) bytes=\(blob.count / 2)-"], "\(blobRequests)"
            )
        }
    }
}
