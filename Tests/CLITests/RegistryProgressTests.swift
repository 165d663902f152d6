// `gvmc push` and `pull` on build's progress display, as a user reads it: BuildKit's plain
// vertices, rawjson statuses, the live tty bar in a narrow terminal, quiet's result lines and
// push's --metadata-file; against the test Golem registry (Tests/TestSupport/Fixtures/golem_registry.py).
import Foundation
import Testing

@Suite(.serialized) struct RegistryProgress {
    /// A size as BuildKit prints it (decimal, 4 significant digits) for the MB sizes used here.
    static func megabytes(_ bytes: Int) -> String { String(format: "%.4g", Double(bytes) / 1e6) + "MB" }

    static func fileSize(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int) ?? -1
    }

    /// Every line of a rawjson run, parsed.
    static func objects(_ err: String) throws -> [[String: Any]] {
        try err.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(line)")
        }
    }

    @Test func plainPushShowsCheckingHashingAndPushingAsVerticesWithTheUploadsSize() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 8 << 20, seed: 40, recorded: false)
        let size = Self.megabytes(Self.fileSize(file))
        // One failed chunk: its retry is a log line of the push.
        server.faults(#"{"fail_chunks": 1}"#)
        let r = GVMCBinary.run(["push", file, "alice/app:1", "--registry", server.url, "--progress", "plain"], env: PublishFixture.alice)
        #expect(r.status == 0, "\(r.err)")
        let masked = ProgressOutput.masked(r.err)
        #expect(
            masked.hasPrefix(
                """
                #1 [internal] checking \(file)
                #1 T using the credentials of alice from REGISTRY_USER/REGISTRY_TOKEN
                #1 DONE Xs

                #2 hashing \(file)
                #2 hashing \(size) / \(size) 
                """), "\(r.err)")
        #expect(masked.contains("\n#2 DONE Xs\n\n#3 pushing to \(server.url) as alice/app:1\n"), "\(r.err)")
        let lines = r.err.split(separator: "\n")
        #expect(
            lines.contains { $0.hasPrefix("#3 ") && $0.contains("/v1/image/push/chunk: HTTP 503") && $0.contains("retrying in") },
            "\(r.err)")
        // Statuses sparingly: the upload's done line (and one per 5 s for a slow one), not one per chunk.
        let uploads = lines.filter { $0.hasPrefix("#3 uploading ") }
        #expect(
            uploads.count == 1 && uploads.last?.hasPrefix("#3 uploading \(size) / \(size) ") == true
                && uploads.last?.hasSuffix("s done") == true,
            "\(r.err)")
        #expect(lines.last?.hasPrefix("#3 DONE ") == true, "\(r.err)")
        #expect(!r.err.contains("hashing:") && !r.err.contains("pushing:"), "no TransferProgress lines")
        #expect(PublishFixture.field(r.out, "tag") == "alice/app:1", "\(r.out)")
        // An image gvmc wrote with the push's cache: its recorded hashes make the descriptor.
        let recorded = try PublishFixture.image(dir + "/recorded", bytes: 3 << 20, seed: 47)
        let again = GVMCBinary.run(["push", recorded, "--registry", server.url, "--progress", "plain"])
        #expect(again.status == 0, "\(again.err)")
        #expect(!again.err.contains("hashing") && again.err.contains("\n#2 pushing to \(server.url)\n"), "\(again.err)")
        #expect(PublishFixture.field(again.out, "image hash") == pythonSHA3(recorded), "\(again.out)")
    }

    @Test func rawjsonPushStatusesEndAtTheUploadsFullSize() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 6 << 20, seed: 41, recorded: false)
        server.faults(#"{"chunk_delay": 0.2}"#)
        let r = GVMCBinary.run(["push", file, "--registry", server.url, "--progress", "rawjson", "--upload-workers", "1"])
        try #require(r.status == 0, "\(r.err)")
        var names: [String: String] = [:], completed: Set<String> = []
        var uploads: [(current: Int, total: Int, completed: Bool)] = []
        for object in try Self.objects(r.err) {
            for v in object["vertexes"] as? [[String: Any]] ?? [] {
                let digest = try #require(v["digest"] as? String)
                names[digest] = v["name"] as? String
                if v["completed"] != nil { completed.insert(digest) }
            }
            for s in object["statuses"] as? [[String: Any]] ?? [] where s["id"] as? String == "uploading" {
                #expect(names[s["vertex"] as? String ?? ""] == "pushing to \(server.url)")
                uploads.append((try #require(s["current"] as? Int), try #require(s["total"] as? Int), s["completed"] != nil))
            }
        }
        #expect(Set(names.values) == ["[internal] checking \(file)", "hashing \(file)", "pushing to \(server.url)"])
        #expect(completed == Set(names.keys), "every vertex ends")
        let size = Self.fileSize(file)
        #expect(uploads.count >= 2 && uploads.first?.current == 0, "\(uploads)")
        #expect(uploads.last.map { $0.current == size && $0.total == size && $0.completed } == true, "\(uploads)")
        #expect(zip(uploads, uploads.dropFirst()).allSatisfy { $0.current <= $1.current }, "never decreasing: \(uploads)")
    }

    @Test(.enabled(if: PseudoTerminal.available, "needs script (bsdutils) for a pseudo-terminal"))
    func ttyPushDrawsAnUploadBarThatFitsANarrowTerminal() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 8 << 20, seed: 42)
        server.faults(#"{"chunk_delay": 0.6}"#)
        let (status, screen, lines) = PseudoTerminal.run(
            ["push", file, "--registry", server.url, "--upload-workers", "1"],
            columns: 70, typescript: dir + "/typescript")
        try #require(status == 0, "\(screen)")
        let bars = lines.filter { $0.hasPrefix(" => => uploading ") }
        #expect(
            bars.contains { $0.contains(" / \(Self.megabytes(Self.fileSize(file))) ") && $0.contains("B/s") && $0.contains("s left") },
            "the upload was drawn with its size, rate and time left: \(bars)")
        let view = lines.filter { $0.hasPrefix(" => ") || $0.hasPrefix("[+] ") }
        #expect(view.allSatisfy { $0.count <= 70 }, "every line fits the 70 columns: \(view.filter { $0.count > 70 })")
        #expect(screen.contains("[+] Pushing ") && screen.contains("(3/3) FINISHED"), "\(screen)")
        #expect(!screen.contains("\u{1B}[3"), "no colour with NO_COLOR")
        #expect(PublishFixture.field(screen.replacingOccurrences(of: "\r", with: ""), "image hash") == pythonSHA3(file))
    }

    @Test func quietPushPrintsOnlyTheResultLines() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 3 << 20, seed: 43)
        let r = GVMCBinary.run(["push", file, "alice/app:2", "--registry", server.url, "--progress", "quiet"], env: PublishFixture.alice)
        #expect(r.status == 0 && r.err.isEmpty, "\(r.err)")
        let labels = r.out.split(separator: "\n").map { $0.split(separator: " ").first.map(String.init) ?? "" }
        #expect(labels == ["pushed", "image", "download", "task", "tag"], "\(r.out)")
        // A warning still shows (a 1 MB image in 1 KiB chunks: over the registry's 1000).
        let small = try PublishFixture.image(dir + "/small", bytes: 1 << 20, seed: 46)
        let warned = GVMCBinary.run(["push", small, "--registry", server.url, "--progress", "quiet", "--chunk-size", "1K"])
        #expect(
            warned.status == 0 && warned.err.hasPrefix("warning: chunk size 1024 makes ") && warned.err.split(separator: "\n").count == 1,
            "\(warned.err)")
    }

    @Test func pushMetadataFileAgreesWithInspectAndTheRegistry() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 5 << 20, seed: 44)
        let r = GVMCBinary.run(
            ["push", file, "alice/app:3", "--registry", server.url, "--progress", "quiet", "--metadata-file", dir + "/meta.json"],
            env: PublishFixture.alice)
        try #require(r.status == 0, "\(r.err)")
        let meta = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/meta.json"))) as? [String: Any])
        let image = try #require(meta["image"] as? [String: Any])
        let push = try #require(meta["push"] as? [String: Any])
        let inspect = try #require(
            try JSONSerialization.jsonObject(with: Data(GVMCBinary.run(["inspect", "--json", file]).out.utf8)) as? [String: Any])
        #expect(image["path"] as? String == file && image["size"] as? Int == inspect["size"] as? Int)
        #expect(image["sha3_224"] as? String == inspect["sha3_224"] as? String && image["sha3_224"] as? String == pythonSHA3(file))
        #expect(push["registry"] as? String == server.url && push["tag"] as? String == "alice/app:3")
        let url = try #require(push["download_url"] as? String)
        #expect(push["task_package"] as? String == "hash:sha3:\(pythonSHA3(file)):\(url)")
        #expect(url == PublishFixture.field(r.out, "download URL"))
        // The registry knows the descriptor by that SHA-256, complete, with as many chunks.
        let id = try #require(push["descriptor_sha256"] as? String)
        let descriptor = Tools.run(["curl", "-sf", server.url + "/v1/image/descr/" + id]).output
        let status = try #require(try JSONSerialization.jsonObject(with: Data(descriptor.utf8)) as? [String: Any], "\(descriptor)")
        #expect(status["status"] as? String == "full")
        let chunks = try #require(status["chunks"] as? [Int])
        #expect(
            push["chunks_total"] as? Int == chunks.count && push["chunks_sent"] as? Int == chunks.count && chunks.allSatisfy { $0 == 1 })
    }

    @Test func plainPullShowsResolvingAndDownloadingVertices() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 4 << 20, seed: 45)
        let push = GVMCBinary.run(["push", file, "alice/app:4", "--registry", server.url, "--progress", "quiet"], env: PublishFixture.alice)
        try #require(push.status == 0, "\(push.err)")
        let out = dir + "/pulled.gvmi"
        let r = GVMCBinary.run(["pull", "alice/app:4", "-o", out, "--registry", server.url, "--progress", "plain"])
        #expect(r.status == 0, "\(r.err)")
        let size = Self.megabytes(Self.fileSize(file))
        #expect(
            ProgressOutput.masked(r.err).hasPrefix(
                """
                #1 resolving alice/app:4 at \(server.url)
                #1 DONE Xs

                #2 downloading alice/app:4 to \(out)
                #2 downloading \(size) / \(size) 
                """), "\(r.err)")
        #expect(r.err.split(separator: "\n").last?.hasPrefix("#2 DONE ") == true, "\(r.err)")
        #expect(FileManager.default.contentsEqual(atPath: file, andPath: out))
        // A failure: the vertex's ERROR, then the error line.
        let missing = GVMCBinary.run(["pull", "alice/none:1", "-o", dir + "/none.gvmi", "--registry", server.url, "--progress", "plain"])
        #expect(
            missing.status == 1
                && missing.err.contains(
                    "\n#1 ERROR: \(server.url): no image tagged alice/none:1\nerror: \(server.url): no image tagged alice/none:1\n"),
            "\(missing.err)")
    }
}
