// gvmc's push against the test registry: resumable, retried chunk by chunk, checked before any
// upload, and what it pushed is what a requestor resolves and downloads.
import Foundation
import GolemRegistry
import Testing
import TestSupport

@Suite struct Push {
    let alice = RegistryCredentials(username: "alice", token: "secret")

    @Test func aSecondPushSendsNoChunkAndTheTagResolvesToTheImage() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 7 << 20, seed: 10)
        let name = try GolemImageName("alice/app:1.0")
        let first = try ImagePush.push(path: dir + "/app.gvmi", name: name, credentials: alice, options: testPushOptions(server))
        #expect(first.sha3 == pythonSHA3(dir + "/app.gvmi"))
        #expect(first.chunksSent == first.chunkCount && first.chunkCount == 4)
        #expect(server.counters()["chunk_posts"] == 4)
        #expect(first.taskPackage == "hash:sha3:\(first.sha3):\(first.downloadURL)")
        server.resetCounters()
        let second = try ImagePush.push(path: dir + "/app.gvmi", name: name, credentials: alice, options: testPushOptions(server))
        #expect(second.chunksSent == 0 && second.sha3 == first.sha3)
        #expect(server.counters()["chunk_posts"] == nil, "\(server.counters())")
        if GolemClients.hasYapapi {
            let resolved = GolemClients.yapapiResolve(server.url, tag: "alice/app:1.0")
            #expect(resolved.output.trimmingCharacters(in: .whitespacesAndNewlines) == first.taskPackage, "\(resolved.output)")
        }
    }

    /// Three 503s and a connection cut in the middle of a chunk: every chunk is retried until
    /// it is stored (gvmkit-build fails on each; see TestRegistryWithRealClients).
    @Test func failedChunksAreRetriedUntilThePushSucceeds() throws {
        let server = try GolemRegistryServer()
        server.faults(#"{"fail_chunks": 3, "drop_chunks": 1}"#)
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 9 << 20, seed: 11)
        let r = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        let c = server.counters()
        #expect(c["chunk_503"] == 3 && c["chunk_dropped"] == 1, "\(c)")
        #expect(c["chunks_stored"] == r.chunkCount)
        #expect(c["chunk_posts"] == r.chunkCount + 4)
        #expect(r.sha3 == pythonSHA3(dir + "/app.gvmi"))
    }

    /// A registry outage in the middle of a push: the push fails after its retries; the next
    /// sends only the chunks the registry lacks.
    @Test func anInterruptedPushResumesWithTheMissingChunksOnly() throws {
        let server = try GolemRegistryServer()
        server.faults(#"{"fail_after_stored": 3}"#)
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 15 << 20, seed: 12)
        let failed = Result {
            try ImagePush.push(
                path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server, workers: 1, attempts: 2))
        }
        guard case .failure(let error) = failed else { Issue.record("the push did not fail"); return }
        #expect("\(error)".contains("HTTP 503"), "\(error)")
        let stored = server.counters()["chunks_stored"] ?? 0
        #expect(stored == 3)
        server.faults(#"{"fail_after_stored": null}"#)
        server.resetCounters()
        let r = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        #expect(r.chunkCount == 8 && r.chunksSent == 8 - stored)
        #expect(server.counters()["chunk_posts"] == 8 - stored)
    }

    /// A chunk the registry refuses as not matching (HTTP 400) is not retried: the push stops
    /// with the chunk's number and the registry's reason.
    @Test func aRejectedChunkIsAClearErrorNotARetry() throws {
        let server = try GolemRegistryServer()
        server.faults(#"{"reject_chunks": 1}"#)
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 5 << 20, seed: 18)
        #expect {
            try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server, workers: 1))
        } throws: { error in
            "\(error)" == "the registry rejected chunk 0 (HTTP 400: chunk 0: sha256 does not match the descriptor)"
        }
        #expect(server.counters()["chunk_posts"] == 1)
    }

    @Test func aWrongTokenFailsBeforeAnyUpload() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 20, seed: 13)
        let wrong = RegistryCredentials(username: "alice", token: "not-the-token")
        #expect {
            try ImagePush.push(
                path: dir + "/app.gvmi", name: try GolemImageName("alice/app:1"), credentials: wrong, options: testPushOptions(server))
        } throws: { error in
            let text = "\(error)"
            return text.contains("refused the token of user alice") && !text.contains("not-the-token")
        }
        let c = server.counters()
        #expect(c["login"] == 1 && c["descr_post"] == nil && c["chunk_posts"] == nil, "\(c)")
    }

    @Test func anotherUsersTagIsRefusedBeforeAnyChunk() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 20, seed: 14)
        #expect {
            try ImagePush.push(
                path: dir + "/app.gvmi", name: try GolemImageName("bob/app:1"), credentials: alice, options: testPushOptions(server))
        } throws: { error in "\(error)".contains("bob/app:1 cannot be set (HTTP 403") }
        #expect(server.counters()["chunk_posts"] == nil)
    }

    @Test func aRegistryThatNeverCompletesTheImageIsAClearError() throws {
        let server = try GolemRegistryServer()
        server.faults(#"{"never_full": true}"#)
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 20, seed: 15)
        var options = testPushOptions(server)
        options.completionTimeout = 1
        #expect {
            try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: options)
        } throws: { error in "\(error)".contains("did not report the image complete within 1 s (it has 1 of 1 chunks)") }
    }

    @Test func aFileThatIsNotAGvmiIsRefusedBeforeAnyRequest() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        writeRandomFile(dir + "/random.gvmi", count: 100_000, seed: 16)
        #expect {
            try ImagePush.push(path: dir + "/random.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        } throws: { error in "\(error)".hasPrefix(dir + "/random.gvmi: not a valid .gvmi: ") }
        #expect(server.counters().isEmpty)
    }

    @Test func anUnreachableRegistryIsNamedAfterTheRetries() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 16, seed: 17)
        var options = PushOptions(registry: "http://127.0.0.1:9")
        options.retry.attempts = 3
        options.retry.initialDelay = 0.05
        options.progress = .quiet
        #expect {
            try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: options)
        } throws: { error in
            let text = "\(error)"
            return text.hasPrefix("http://127.0.0.1:9/v1/image/descr/") && text.contains("cannot be reached")
                && text.contains("(after 3 attempts)")
        }
    }
}
