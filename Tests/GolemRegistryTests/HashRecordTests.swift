// The hashes gvmc records when it writes an image (the cache's `hashes/`): a push of an image
// gvmc wrote and nobody changed since makes its descriptor from the record instead of reading
// the file; a changed file, or a record that lies, never gets a wrong hash to the registry.
import Foundation
import GolemRegistry
import GVMI
import Testing
import TestSupport

@Suite struct HashRecords {
    @Test func theWriterRecordsTheDescriptorAPushWouldCompute() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageHashStore(directory: dir + "/cache/hashes")
        let written = try Images.make(dir + "/app.gvmi", bytes: 5 << 20, seed: 21, hashes: store)
        let record = try #require(try load(store, dir + "/app.gvmi"))
        let fromRecord = try #require(ImageDescriptor(record))
        // Bytes as gvmkit-build writes them (DescriptorTests checks compute against gvmkit-build).
        #expect(fromRecord.bytes == (try ImageDescriptor.compute(path: dir + "/app.gvmi")).bytes)
        #expect(record.sha3_224 == written.sha3_224 && record.sha3_224 == pythonSHA3(dir + "/app.gvmi"))
        #expect(record.chunkSize == 2 << 20 && record.chunkSHA256.count == 3)
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/cache/hashes")[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test func aChangedImageIsNotDescribedByItsRecord() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageHashStore(directory: dir + "/hashes")
        let path = dir + "/app.gvmi"
        try Images.make(path, bytes: 3 << 20, seed: 22, hashes: store)
        #expect(try load(store, path) != nil)
        // Rewritten in place with the same size and modification time: the change time differs.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let times = try FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date
        var changed = bytes
        changed[100] ^= 0xff
        let fd = open(path, O_WRONLY)
        #expect(changed.withUnsafeBytes { pwrite(fd, $0.baseAddress, $0.count, 0) } == changed.count)
        close(fd)
        try FileManager.default.setAttributes([.modificationDate: try #require(times)], ofItemAtPath: path)
        #expect(try load(store, path) == nil)
        // A new file at the same path (another inode) is not described either.
        try Images.make(dir + "/other.gvmi", bytes: 3 << 20, seed: 23)
        #expect(rename(dir + "/other.gvmi", path) == 0)
        #expect(try load(store, path) == nil)
    }

    @Test func aPushUsesTheRecordChecksItAgainstTheBytesAndRecordsWhatItHashed() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = ImageHashStore(directory: dir + "/hashes")
        let path = dir + "/app.gvmi"
        try Images.make(path, bytes: 5 << 20, seed: 24, hashes: store)
        var options = testPushOptions(server)
        options.hashes = store

        // A record that lies about one chunk (same file identity): the push took its descriptor
        // from the record, and the chunk's bytes read for the upload expose the lie.
        let recordPath = try #require(recordFile(store))
        let honest = try Data(contentsOf: URL(fileURLWithPath: recordPath))
        var record = try JSONDecoder().decode(ImageHashRecord.self, from: honest)
        record.chunkSHA256[1] = String(repeating: "0", count: 64)
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: recordPath))
        let lie = Result { try ImagePush.push(path: path, name: nil, credentials: nil, options: options) }
        guard case .failure(let error) = lie else { Issue.record("a push with a lying record succeeded"); return }
        #expect("\(error)".contains("chunk 1 no longer has the SHA-256"), "\(error)")
        #expect(server.counters()["chunks_stored"] ?? 0 < 3)

        // The honest record: the push succeeds with the file's real hash.
        try honest.write(to: URL(fileURLWithPath: recordPath))
        let pushed = try ImagePush.push(path: path, name: nil, credentials: nil, options: options)
        #expect(pushed.sha3 == pythonSHA3(path) && pushed.chunkCount == 3)

        // An image gvmc did not write is hashed by the push, which records it for the next one.
        let copy = dir + "/copy.gvmi"
        try FileManager.default.copyItem(atPath: path, toPath: copy)
        #expect(try load(store, copy) == nil)
        _ = try ImagePush.push(path: copy, name: nil, credentials: nil, options: options)
        #expect(try load(store, copy)?.sha3_224 == pushed.sha3)
    }

    func load(_ store: ImageHashStore, _ path: String) throws -> ImageHashRecord? {
        let fd = open(path, O_RDONLY)
        try #require(fd >= 0)
        defer { close(fd) }
        return store.load(path: path, fd: fd)
    }

    func recordFile(_ store: ImageHashStore) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []
        return names.count == 1 ? store.directory + "/" + names[0] : nil
    }
}
