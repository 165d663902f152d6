// CacheError keeps its cause: the registry's error of a registry cache, the expected and actual
// digests of a blob that does not match, the document error of a config that is not gvmc's; the
// message is derived from them and reads as before.
import Crypto
import Foundation
import HTTPTransport
import ImageSpec
import Registry
@testable import RemoteCache
import Testing
import TestSupport

struct CacheErrorTests {
    @Test func aBlobThatDoesNotMatchExposesBothDigests() throws {
        let scratch = Scratch()
        let bytes = Array("not what was asked for".utf8)
        let actual = "sha256:" + SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        let wanted = "sha256:" + String(repeating: "a", count: 64)
        let dir = scratch.sub("layout")
        try FileManager.default.createDirectory(atPath: dir + "/blobs/sha256", withIntermediateDirectories: true)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/blobs/sha256/" + wanted.dropFirst(7)))
        let store = LayoutCacheStore(directory: dir, tag: "cache", label: "local cache")
        let descriptor = Descriptor(mediaType: nil, digest: wanted, size: Int64(bytes.count), platform: nil, urls: nil, annotations: nil)
        let error = try #require(throws: CacheError.self) { try store.fetch(descriptor, to: scratch.sub("out")) }
        guard case .digestMismatch(let label, let expected, let got, let size) = error.kind else {
            Issue.record("\(error.kind)")
            return
        }
        #expect(label == "local cache" && expected == wanted && got == actual && size == Int64(bytes.count))
        #expect(error.message == "local cache: blob \(wanted) does not match its digest (\(actual), \(bytes.count) bytes); not used")
    }

    @Test func aRegistryCacheKeepsTheRegistryError() throws {
        var options = RegistryOptions()
        options.maxAttempts = 1
        // Port 1 on loopback: nothing listens there, the connection is refused.
        let store = try makeCacheStore(try CacheSpec("type=registry,ref=127.0.0.1:1/cache:x", export: false), options: options)
        let error = try #require(throws: CacheError.self) { _ = try store.manifest() }
        guard case .registry(let label, let cause) = error.kind else {
            Issue.record("\(error.kind)")
            return
        }
        #expect(error.cause is RegistryError && cause.cause is TransportError, "\(error)")
        #expect(error.message == "\(label): \(cause.message)")
    }

    @Test func aConfigThatIsNotGvmcsKeepsTheDocumentError() throws {
        let error = try #require(throws: CacheError.self) { _ = try CacheIndex.decode(Array("<html>".utf8), from: "the cache") }
        #expect(error.cause is ImageSpecError)
        #expect(error.message.hasPrefix("the cache: the cache's configuration is not gvmc's format: not JSON"), "\(error.message)")
        let foreign = CacheError(.foreign(label: "r/x:tag", configMediaType: "application/x"))
        #expect(foreign.isForeign && !error.isForeign)
        #expect(foreign.message == "r/x:tag holds something that is not a gvmc cache (config media type is not application/x)")
        let io = CacheError(.system(operation: "rename", path: "/x", errno: EACCES))
        #expect(io.message == "/x: rename failed: Permission denied" && io.errno == EACCES)
    }
}
