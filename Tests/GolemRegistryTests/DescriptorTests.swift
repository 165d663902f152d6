// The image descriptor gvmc computes is the one gvmkit-build writes (FILE.gvmi.descr.bin), byte
// for byte, for its default chunk size and another; its SHA3-224 is Python's.
import Foundation
@testable import GolemRegistry
import Testing
import TestSupport

@Suite struct Descriptors {
    @Test(.enabled(if: GolemClients.hasGvmkitBuild, Comment(rawValue: GolemClients.why)), arguments: [nil, 1 << 20, 3_000_000] as [Int?])
    func descriptorBytesAreGvmkitBuilds(chunkSize: Int?) throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/image.gvmi"
        // Not a multiple of any chunk size: the last chunk is short.
        writeRandomFile(file, count: 9 * 1_048_576 + 77, seed: 1)
        let r = GolemClients.gvmkit(["-d", file] + (chunkSize.map { ["--upload-chunk-size", String($0)] } ?? []), environment: [:])
        #expect(r.status == 0, "\(r.output)")
        let theirs = try Array(Data(contentsOf: URL(fileURLWithPath: file + ".descr.bin")))
        let ours = try ImageDescriptor.compute(path: file, chunkSize: chunkSize.map(UInt64.init))
        #expect(ours.bytes == theirs)
        #expect(ours.chunkSize == UInt64(chunkSize ?? 2 << 20))
        #expect(r.output.contains(ours.sha3Hex), "gvmkit-build prints the same image link: \(r.output)")
    }

    @Test func theHashIsTheWholeFilesSHA3AndTheBytesParseBack() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/f"
        writeRandomFile(file, count: 5 * 1_048_576 + 3, seed: 2)
        let d = try ImageDescriptor.compute(path: file)
        #expect(d.sha3Hex == pythonSHA3(file))
        #expect(d.chunkCount == 3 && d.chunk(2).length == 1_048_576 + 3)
        #expect(try ImageDescriptor(bytes: d.bytes) == d)
        #expect(d.bytes.count == 52 + 32 * 3)
        #expect(throws: GolemRegistryError.self) { try ImageDescriptor(bytes: Array(d.bytes.dropLast())) }
    }

    /// The image writer's read-back gives the same descriptor, so build --push need not hash again.
    @Test func theWritersReadBackGivesTheSameDescriptor() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for chunk: UInt64 in [1 << 20, 3_000_000] {
            let result = try Images.make(dir + "/app.gvmi", bytes: 7 << 20, seed: 5) { _ in chunk }
            let fromWriter = try #require(ImageDescriptor(result))
            #expect(fromWriter == (try ImageDescriptor.compute(path: dir + "/app.gvmi", chunkSize: chunk)))
        }
    }

    @Test func chunkSizesFollowGvmkitBuild() {
        let mib: UInt64 = 1 << 20
        #expect(ImageDescriptor.defaultChunkSize(fileSize: 200 * mib) == 2 * mib)
        #expect(ImageDescriptor.defaultChunkSize(fileSize: 200 * mib + 1) == 5 * mib)
        #expect(ImageDescriptor.defaultChunkSize(fileSize: 600 * mib) == 10 * mib)
        #expect(ImageDescriptor.defaultChunkSize(fileSize: 6 << 30) == 100 * mib)
    }
}

/// The names and reports a push gives the commands (Publishing).
@Suite struct PublishingReports {
    @Test func tagNamesTheFileAsGvmkitBuildDoes() throws {
        let name = try GolemImageName("alice/app:1.0")
        #expect(name.outputName(imageID: "sha256:0123456789abcdef") == "alice-app-1.0-0123456789.gvmi")
        #expect(name.outputName(imageID: "fedcba98765432100000") == "alice-app-1.0-fedcba9876.gvmi")
        #expect(Publishing.trimmedRegistry("http://127.0.0.1:5000//") == "http://127.0.0.1:5000")
    }

    @Test func aPushIsReportedWithTheHashesNamedForWhatTheyAre() throws {
        let r = PushResult(
            path: "app.gvmi", registry: "http://r", size: 10, sha3: "aa", descriptorID: "bb", downloadURL: "http://r/download/bb",
            name: try GolemImageName("alice/app:1"), chunkCount: 3, chunksSent: 2)
        #expect(r.resultLines.first == "pushed app.gvmi to http://r (2 of 3 chunks sent)")
        #expect(r.resultLines.contains("  task package  hash:sha3:aa:http://r/download/bb"))
        #expect(
            r.info == [
                "download_url": "http://r/download/bb", "task_package": "hash:sha3:aa:http://r/download/bb",
                "descriptor_sha256": "bb", "registry": "http://r", "tag": "alice/app:1"
            ])
        #expect(r.metadata.chunksSent == 2 && r.metadata.chunksTotal == 3)
        #expect(r.gvmkitInfo.imageSha3_224 == "aa" && r.gvmkitInfo.descriptorSha256 == "bb")
    }
}
