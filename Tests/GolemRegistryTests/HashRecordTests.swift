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

        // A record that lies about one chunk (same file identity): the push takes its
        // descriptor, the chunk's bytes read for the upload expose the lie, and the push starts
        // again hashing the file: the registry gets the file's real hash.
        let recordPath = try #require(recordFile(store))
        let honest = try Data(contentsOf: URL(fileURLWithPath: recordPath))
        var record = try JSONDecoder().decode(ImageHashRecord.self, from: honest)
        record.chunkSHA256[1] = String(repeating: "0", count: 64)
        try JSONEncoder().encode(record).write(to: URL(fileURLWithPath: recordPath))
        chmod(recordPath, 0o600)
        /// The push's notes to the user.
        final class Notes: @unchecked Sendable {
            let lock = NSLock()
            var lines: [String] = []
            func contain(_ text: String) -> Bool { lock.withLock { lines.contains { $0.contains(text) } } }
        }
        let notes = Notes()
        options.log = { line in notes.lock.withLock { notes.lines.append(line) } }
        let pushed = try ImagePush.push(path: path, name: nil, credentials: nil, options: options)
        #expect(pushed.sha3 == pythonSHA3(path) && pushed.chunkCount == 3)
        #expect(notes.contain("changed since its hashes were recorded"), "\(notes.lines)")
        #expect(
            try load(store, path)?.chunkSHA256 == (try JSONDecoder().decode(ImageHashRecord.self, from: honest)).chunkSHA256,
            "the push recorded what it hashed")

        // A record naming an image the registry has (so no chunk would be read for an upload):
        // the chunks are checked against the file before the push believes it.
        let other = dir + "/other.gvmi"
        try Images.make(other, bytes: 5 << 20, seed: 29, hashes: store)
        let otherRecord = try #require(try load(store, other))
        var forged = try JSONDecoder().decode(ImageHashRecord.self, from: honest)
        forged.sha3_224 = pushed.sha3
        forged.chunkSHA256 = try #require(try load(store, path)).chunkSHA256
        let identity = otherRecord
        forged.device = identity.device; forged.inode = identity.inode; forged.size = identity.size
        forged.modified = identity.modified; forged.changed = identity.changed
        let otherRecordPath = try #require(try recordFile(store, for: other))
        try JSONEncoder().encode(forged).write(to: URL(fileURLWithPath: otherRecordPath))
        chmod(otherRecordPath, 0o600)
        // Same size, so the forged record's descriptor is byte for byte the one the registry has.
        #expect(forged.size == pushed.size && ImageDescriptor(forged)?.id == pushed.descriptorID)
        notes.lock.withLock { notes.lines = [] }
        let pushedOther = try ImagePush.push(path: other, name: nil, credentials: nil, options: options)
        #expect(pushedOther.sha3 == pythonSHA3(other) && pushedOther.sha3 != pushed.sha3)
        #expect(notes.contain("changed since its hashes were recorded"), "\(notes.lines)")

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

    /// The record of the image at `path`: the one file whose JSON names its inode.
    func recordFile(_ store: ImageHashStore, for path: String) throws -> String? {
        var st = stat()
        guard lstat(path, &st) == 0 else { return nil }
        for name in try FileManager.default.contentsOfDirectory(atPath: store.directory) {
            let file = store.directory + "/" + name
            if let r = try? JSONDecoder().decode(ImageHashRecord.self, from: Data(contentsOf: URL(fileURLWithPath: file))),
                r.inode == UInt64(st.st_ino)
            {
                return file
            }
        }
        return nil
    }
}
