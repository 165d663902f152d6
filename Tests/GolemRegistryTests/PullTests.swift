// gvmc's pull: by tag and by hash the same bytes, resumed with Range after a cut connection, and
// a file whose SHA3-224 is not the registry's is refused with nothing left at the output path.
import Foundation
import GolemRegistry
import Testing
import TestSupport

@Suite struct Pull {
    @Test func tagAndHashGiveTheSameBytesAndACutDownloadResumes() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 6 << 20, seed: 20)
        let pushed = try ImagePush.push(
            path: dir + "/app.gvmi", name: try GolemImageName("alice/app:2"),
            credentials: RegistryCredentials(username: "alice", token: "secret"), options: testPushOptions(server))
        var retry = RetryPolicy()
        retry.initialDelay = 0.05
        let byTag = try ImagePull.pull(
            try .init("alice/app:2"), to: dir + "/by-tag.gvmi", registry: server.url, progress: .quiet, retry: retry)
        server.faults(#"{"cut_downloads": 1}"#)
        let byHash = try ImagePull.pull(
            try .init(pushed.sha3), to: dir + "/by-hash.gvmi", registry: server.url, progress: .quiet, retry: retry)
        #expect(byTag.sha3 == pushed.sha3 && byHash.sha3 == pushed.sha3)
        let original = FileManager.default.contents(atPath: dir + "/app.gvmi")
        #expect(FileManager.default.contents(atPath: dir + "/by-tag.gvmi") == original)
        #expect(FileManager.default.contents(atPath: dir + "/by-hash.gvmi") == original)
        #expect(server.counters()["download_ranged"] == 1, "the cut download resumed with Range")
    }

    @Test func corruptedBytesAreRefusedAndNothingIsLeft() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 3 << 20, seed: 21)
        let pushed = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        server.faults(#"{"corrupt_download": true}"#)
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        #expect {
            try ImagePull.pull(try .init(pushed.sha3), to: dir + "/out/x.gvmi", registry: server.url, progress: .quiet)
        } throws: { error in "\(error)".contains("SHA3-224 is") && "\(error)".contains("not \(pushed.sha3); it was not kept") }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == [])
        #expect {
            try ImagePull.pull(try .init("alice/none:1"), to: dir + "/out/y.gvmi", registry: server.url, progress: .quiet)
        } throws: { error in "\(error)".contains("no image tagged alice/none:1") }
    }

    @Test func resolvingATagOrHashNamesTheImageWithoutDownloadingIt() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 20, seed: 22)
        let pushed = try ImagePush.push(
            path: dir + "/app.gvmi", name: try GolemImageName("alice/app:3"),
            credentials: RegistryCredentials(username: "alice", token: "secret"), options: testPushOptions(server))
        server.resetCounters()
        let byTag = try ImagePull.resolve(.tag(try GolemImageName("alice/app:3")), registry: server.url, count: false)
        let byHash = try ImagePull.resolve(.hash(pushed.sha3), registry: server.url, count: false)
        #expect(byTag.sha3 == pushed.sha3 && byTag.url.hasSuffix("/download/" + pushed.sha3) && byTag.size == pushed.size)
        #expect(byHash == byTag)
        #expect(server.counters() == ["info": 2], "one /v1/image/info request each, no download")
        #expect {
            try ImagePull.resolve(.tag(try GolemImageName("alice/none:1")), registry: server.url, count: false)
        } throws: { error in "\(error)" == "\(server.url): no image tagged alice/none:1" }
    }
}

/// A pull that fails part way keeps what it received; the next pull of the image resumes there.
@Suite struct PullResume {
    @Test func anInterruptedPullKeepsItsBytesAndTheNextResumesAfterThem() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 6 << 20, seed: 25)
        let pushed = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        var once = RetryPolicy()
        once.attempts = 1
        // The download is cut after half its bytes, and this pull does not retry.
        server.faults(#"{"cut_downloads": 1}"#)
        let failed = Result {
            try ImagePull.pull(try .init(pushed.sha3), to: dir + "/out/app.gvmi", registry: server.url, progress: .quiet, retry: once)
        }
        guard case .failure(let error) = failed else { Issue.record("the cut pull succeeded"); return }
        let partial = dir + "/out/app.gvmi.\(pushed.sha3.prefix(16)).partial"
        #expect("\(error)".contains("are kept in \(partial)"), "\(error)")
        let kept = (try? FileManager.default.attributesOfItem(atPath: partial)[.size] as? Int) ?? 0
        #expect(kept > 0 && kept < Int(pushed.size), "\(kept) bytes kept")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out/app.gvmi"))

        server.resetCounters()
        let resumed = try ImagePull.pull(
            try .init(pushed.sha3), to: dir + "/out/app.gvmi", registry: server.url, progress: .quiet, retry: once)
        #expect(resumed.sha3 == pushed.sha3)
        #expect(server.counters()["download_ranged"] == 1, "the second pull asked for the rest only: \(server.counters())")
        #expect(FileManager.default.contents(atPath: dir + "/out/app.gvmi") == FileManager.default.contents(atPath: dir + "/app.gvmi"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/out") == ["app.gvmi"])
    }

    /// Kept bytes that are not the image's (damaged on disk): the whole file fails the hash, is
    /// removed, and the pull after it starts from the first byte.
    @Test func damagedKeptBytesAreRefusedAndThenReplaced() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 3 << 20, seed: 26)
        let pushed = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        let partial = dir + "/x.gvmi.\(pushed.sha3.prefix(16)).partial"
        try Data(repeating: 0x55, count: 1 << 20).write(to: URL(fileURLWithPath: partial))
        #expect {
            try ImagePull.pull(try .init(pushed.sha3), to: dir + "/x.gvmi", registry: server.url, progress: .quiet)
        } throws: { error in "\(error)".contains("it was not kept") }
        #expect(!FileManager.default.fileExists(atPath: partial) && !FileManager.default.fileExists(atPath: dir + "/x.gvmi"))
        _ = try ImagePull.pull(try .init(pushed.sha3), to: dir + "/x.gvmi", registry: server.url, progress: .quiet)
        #expect(FileManager.default.contents(atPath: dir + "/x.gvmi") == FileManager.default.contents(atPath: dir + "/app.gvmi"))
    }
}

/// The partial file is shared only with the user's own pulls of the same image: a second pull
/// waits for the first, never writes into a file the first renamed, and a partial that another
/// name links to (or another user owns) is refused instead of written.
@Suite struct PartialFileSafety {
    @Test func aSecondPullWaitsAndDoesNotWriteIntoTheFirstsRenamedFile() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 2 << 20, seed: 27)
        let pushed = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        let partial = dir + "/out.gvmi.\(pushed.sha3.prefix(16)).partial"
        // "Another pull": holds the lock on the partial file.
        let other = open(partial, O_RDWR | O_CREAT, 0o644)
        try #require(other >= 0 && flock(other, LOCK_EX) == 0)
        let done = DispatchSemaphore(value: 0)
        /// Written by the pull's thread before it signals `done`.
        final class Outcome: @unchecked Sendable { var result: Result<Void, Error>? }
        let outcome = Outcome()
        let url = server.url, hash = pushed.sha3
        Thread.detachNewThread {
            outcome.result = Result { _ = try ImagePull.pull(try .init(hash), to: dir + "/out.gvmi", registry: url, progress: .quiet) }
            done.signal()
        }
        #expect(done.wait(timeout: .now() + 0.5) == .timedOut, "the pull waits for the lock")
        #expect(!FileManager.default.fileExists(atPath: dir + "/out.gvmi"))
        // The other pull finishes: it renames its partial file away, then lets go.
        #expect(rename(partial, dir + "/theirs.gvmi") == 0)
        flock(other, LOCK_UN)
        close(other)
        #expect(done.wait(timeout: .now() + 30) == .success)
        #expect(throws: Never.self) { try outcome.result?.get() }
        #expect(FileManager.default.contents(atPath: dir + "/out.gvmi") == FileManager.default.contents(atPath: dir + "/app.gvmi"))
        #expect(
            (try? FileManager.default.attributesOfItem(atPath: dir + "/theirs.gvmi")[.size] as? Int) == 0,
            "the renamed file was not written")
    }

    @Test func aPartialFileWithAnotherNameIsRefusedAndThatFileIsUntouched() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Images.make(dir + "/app.gvmi", bytes: 1 << 20, seed: 28)
        let pushed = try ImagePush.push(path: dir + "/app.gvmi", name: nil, credentials: nil, options: testPushOptions(server))
        let precious = dir + "/precious"
        try Data(repeating: 0x77, count: 3 << 20).write(to: URL(fileURLWithPath: precious))
        #expect(link(precious, dir + "/out.gvmi.\(pushed.sha3.prefix(16)).partial") == 0)
        #expect {
            try ImagePull.pull(try .init(pushed.sha3), to: dir + "/out.gvmi", registry: server.url, progress: .quiet)
        } throws: { error in "\(error)".contains("other links") }
        #expect(FileManager.default.contents(atPath: precious) == Data(repeating: 0x77, count: 3 << 20))
    }
}
