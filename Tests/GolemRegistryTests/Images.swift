// Valid .gvmi files of a chosen size for the push and pull tests: one file of random bytes
// (incompressible, so the image is about that size), written with gvmc's own writer.
import Foundation
import GolemRegistry
import GVMI
import ImageSpec
import SquashFS
import TestSupport

enum Images {
    /// A .gvmi at `path` holding `bytes` random bytes (seeded: the same seed gives the same image).
    @discardableResult
    static func make(
        _ path: String, bytes: Int, seed: UInt64, chunkSize: ((UInt64) -> UInt64)? = nil,
        hashes: ImageHashStore? = nil
    ) throws -> GVMIResult {
        let payload = path + ".payload"
        writeRandomFile(payload, count: bytes, seed: seed)
        defer { try? FileManager.default.removeItem(atPath: payload) }
        var options = SquashFSOptions()
        options.fixedTimestamp = 1_700_000_000
        options.compression.algorithm = .lz4
        var config = ContainerConfig()
        config.volumes = ["/golem/output"]
        let data = try Array(Data(contentsOf: URL(fileURLWithPath: payload)))
        return try GVMIImageWriter.write(to: path, options: options, config: config, chunkSize: chunkSize, hashes: hashes) { writer in
            try writer.add(try EntryPath("golem"), .directory, metadata: EntryMetadata(permissions: 0o755))
            try writer.addFile(try EntryPath("golem/data"), metadata: EntryMetadata(permissions: 0o644), contents: data)
        }
    }
}

/// Push options for the test registry: retries within a second or two, completion within 5 s.
func testPushOptions(_ server: GolemRegistryServer, workers: Int = 4, chunkSize: UInt64? = nil, attempts: Int = 6) -> PushOptions {
    var options = PushOptions(registry: server.url)
    options.workers = workers
    options.chunkSize = chunkSize
    options.progress = .quiet
    options.retry.attempts = attempts
    options.retry.initialDelay = 0.05
    options.retry.maximumDelay = 0.5
    options.completionTimeout = 5
    return options
}

func scratchDirectory() -> String {
    var template = Array("/tmp/gvmc-golem-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}
