// `gvmc push`, `pull`, `login`/`logout`, `build --push` and `convert --push` as a user runs them,
// against the test Golem registry (Tests/TestSupport/Fixtures/golem_registry.py); what they push is resolved
// with the real yapapi and its bytes hashed by Python.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum PublishFixture {
    /// A .gvmi made by `gvmc pack` from a directory with `bytes` random bytes. `recorded`: its
    /// hashes are recorded in the cache push reads (as for any image gvmc writes); false packs
    /// it with another cache, so push has to hash it.
    static func image(_ dir: String, bytes: Int, seed: UInt64, recorded: Bool = true) throws -> String {
        try FileManager.default.createDirectory(atPath: dir + "/root/golem", withIntermediateDirectories: true)
        writeRandomFile(dir + "/root/golem/data", count: bytes, seed: seed)
        let r = GVMCBinary.run(
            ["pack", "--compression", "lz4", "-o", dir + "/app.gvmi", dir + "/root"]
                + (recorded ? [] : ["--cache-dir", dir + "/pack-cache"]))
        try #require(r.status == 0, "\(r.err)")
        return dir + "/app.gvmi"
    }

    /// The value of an output line `  label   value`.
    static func field(_ output: String, _ label: String) -> String? {
        output.split(separator: "\n").first { $0.hasPrefix("  " + label + " ") }
            .map { String($0.dropFirst(2 + label.count)).trimmingCharacters(in: .whitespaces) }
    }

    static let alice = ["REGISTRY_USER": "alice", "REGISTRY_TOKEN": "secret"]
}

@Suite(.serialized) struct PublishCommands {
    @Test func pushPrintsWhatARequestorNeedsAndYapapiResolvesIt() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 3 << 20, seed: 30)
        let r = GVMCBinary.run(
            [
                "push", file, "alice/app:1.0", "--registry", server.url, "--progress", "quiet",
                "--extra-json-info-path", dir + "/info.json"
            ], env: PublishFixture.alice)
        #expect(r.status == 0, "\(r.err)")
        let sha3 = pythonSHA3(file)
        #expect(PublishFixture.field(r.out, "image hash") == sha3, "\(r.out)")
        let url = try #require(PublishFixture.field(r.out, "download URL"))
        #expect(PublishFixture.field(r.out, "task package") == "hash:sha3:\(sha3):\(url)")
        #expect(PublishFixture.field(r.out, "tag") == "alice/app:1.0")
        #expect(!(r.out + r.err).contains("secret"), "the token is never printed")
        let info = try String(contentsOfFile: dir + "/info.json", encoding: .utf8)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(info.utf8)) as? [String: Any])
        #expect(json["imageSha3_224"] as? String == sha3)
        #expect((json["descriptorSha256"] as? String)?.count == 64)
        #expect((json["repoInfo"] as? [String: String])?["user"] == "alice")
        #expect(!info.contains("secret"))
        if GolemClients.hasYapapi {
            let resolved = GolemClients.yapapiResolve(server.url, tag: "alice/app:1.0")
            #expect(resolved.output.trimmingCharacters(in: .whitespacesAndNewlines) == "hash:sha3:\(sha3):\(url)", "\(resolved.output)")
        }
        // Pulled back by tag and by hash: the same bytes.
        let byTag = GVMCBinary.run(["pull", "alice/app:1.0", "-o", dir + "/tag.gvmi", "--registry", server.url, "--progress", "quiet"])
        let byHash = GVMCBinary.run(["pull", sha3, "-o", dir + "/hash.gvmi", "--registry", server.url, "--progress", "quiet"])
        #expect(byTag.status == 0 && byHash.status == 0, "\(byTag.err) \(byHash.err)")
        let original = FileManager.default.contents(atPath: file)
        #expect(FileManager.default.contents(atPath: dir + "/tag.gvmi") == original)
        #expect(FileManager.default.contents(atPath: dir + "/hash.gvmi") == original)
    }

    @Test func loginStoresTheTokenInAFileOnlyTheUserReadsAndLogoutRemovesIt() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 1 << 20, seed: 31)
        let env = ["XDG_CONFIG_HOME": dir + "/config", "REGISTRY_URL": server.url, "REGISTRY_USER": "", "REGISTRY_TOKEN": ""]
        let store = dir + "/config/gvmc/golem-registry.json"

        let wrong = GVMCBinary.run(["login", "-u", "alice", "--password-stdin"], stdin: "wrong-token\n", env: env)
        #expect(wrong.status == 1 && wrong.err.contains("refused the token of user alice"), "\(wrong.err)")
        #expect(!(wrong.out + wrong.err).contains("wrong-token"))
        #expect(!FileManager.default.fileExists(atPath: store), "nothing is stored for a refused token")

        let login = GVMCBinary.run(["login", "-u", "alice", "--password-stdin"], stdin: "secret\n", env: env)
        #expect(login.status == 0 && login.out.contains(store) && login.out.contains("0600"), "\(login.out) \(login.err)")
        #expect(!(login.out + login.err).contains("secret"))
        var st = stat()
        #expect(stat(store, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(try String(contentsOfFile: store, encoding: .utf8).contains("secret"))

        let push = GVMCBinary.run(["push", file, "alice/app:2", "--progress", "plain"], env: env)
        #expect(push.status == 0 && push.err.contains("using the credentials of alice from \(store)"), "\(push.err)")

        let logout = GVMCBinary.run(["logout"], env: env)
        #expect(logout.status == 0 && logout.out.contains("removed the credentials for \(server.url)"), "\(logout.out)")
        #expect(try !String(contentsOfFile: store, encoding: .utf8).contains("secret"))
        let after = GVMCBinary.run(["push", file, "alice/app:3", "--progress", "quiet"], env: env)
        #expect(after.status == 1 && after.err.contains("needs credentials"), "\(after.err)")
    }

    /// A push killed mid-upload (as Ctrl-C does), then run again: the second sends only the chunks
    /// the registry lacks, a third none.
    @Test func aKilledPushResumesWithTheChunksTheRegistryLacks() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 20 << 20, seed: 32)
        server.faults(#"{"chunk_delay": 0.3}"#)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
        p.arguments = ["push", file, "--registry", server.url, "--progress", "quiet", "--upload-workers", "2"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        var stored = 0
        for _ in 0..<200 where stored < 3 {
            usleep(50_000)
            stored = server.counters()["chunks_stored"] ?? 0
        }
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // Chunks already received when gvmc died are still stored.
        usleep(800_000)
        server.faults(#"{"chunk_delay": 0}"#)
        stored = server.counters()["chunks_stored"] ?? 0
        #expect(stored >= 3 && stored < 11, "\(stored)")
        server.resetCounters()
        let second = GVMCBinary.run(["push", file, "--registry", server.url, "--progress", "quiet"])
        #expect(second.status == 0, "\(second.err)")
        #expect(second.out.contains("(\(11 - stored) of 11 chunks sent)"), "\(second.out)")
        #expect(server.counters()["chunk_posts"] == 11 - stored)
        let third = GVMCBinary.run(["push", file, "--registry", server.url, "--progress", "plain"])
        #expect(third.out.contains("(0 of 11 chunks sent)"), "\(third.out)")
        #expect(PublishFixture.field(third.out, "image hash") == pythonSHA3(file))
    }

    @Test func aNonImageIsRefusedWithInspectsReason() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        writeRandomFile(dir + "/x.gvmi", count: 4096, seed: 34)
        let r = GVMCBinary.run(["push", dir + "/x.gvmi", "--registry", server.url])
        #expect(
            r.status == 1 && r.err.hasPrefix("#1 [internal] checking \(dir)/x.gvmi\n#1 ERROR: \(dir)/x.gvmi: not a valid .gvmi: "),
            "\(r.err)")
        #expect(r.err.contains("\nerror: \(dir)/x.gvmi: not a valid .gvmi: "), "\(r.err)")
        #expect(server.counters().isEmpty)
    }
}

/// Done when: `gvmc build --push alice/app:1.0 CONTEXT` against the test registry gives an image
/// yapapi resolves by tag, whose downloaded bytes hash to the resolved hash.
@Suite(
    .serialized,
    .enabled(
        if: BuildFixture.canRun && GolemClients.hasYapapi,
        "needs root, busybox and yapapi in .venv (make test-deps)"))
struct BuildAndPush {
    @Test func buildPushResolvesByTagToTheBytesItBuilt() throws {
        let server = try GolemRegistryServer()
        let ctx = try BuildFixture.context(BuildFixture.toolsStage + "\nRUN echo hello > /golem-hello\nVOLUME /golem/output\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(
            ["build", "--push", "alice/app:1.0", "--progress", "plain", ctx], cwd: ctx,
            env: PublishFixture.alice.merging(["REGISTRY_URL": server.url]) { $1 })
        #expect(r.status == 0, "\(r.err)")
        // The push as further vertices of the build, without a hashing one: the build's read-back gave the descriptor.
        let written = try #require(r.err.range(of: " writing image "), "\(r.err)")
        let after = r.err[written.upperBound...]
        #expect(after.contains(" [internal] checking ") && after.contains(" pushing to \(server.url) as alice/app:1.0\n"), "\(r.err)")
        #expect(after.contains(" uploading ") && !r.err.contains(" hashing "), "\(r.err)")
        #expect(PublishFixture.field(r.out, "tag") == "alice/app:1.0", "\(r.out)")
        let resolved = GolemClients.yapapiResolve(server.url, tag: "alice/app:1.0").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(resolved.hasPrefix("hash:sha3:"), "\(resolved)")
        let hash = String(resolved.dropFirst("hash:sha3:".count).prefix(56))
        let url = String(resolved.dropFirst("hash:sha3:".count + 57))
        #expect(Tools.run(["curl", "-sf", "-o", ctx + "/downloaded.gvmi", url]).status == 0)
        #expect(pythonSHA3(ctx + "/downloaded.gvmi") == hash)
        let built = ctx + "/" + (ctx as NSString).lastPathComponent + ".gvmi"
        #expect(FileManager.default.contents(atPath: ctx + "/downloaded.gvmi") == FileManager.default.contents(atPath: built))
    }
}

extension BuildAndPush {
    /// `-t` without `-o` names the file as gvmkit-build does, with the image hash for the id.
    @Test func tagNamesTheOutputAfterTheImageHash() throws {
        let ctx = try BuildFixture.context(BuildFixture.toolsStage + "\nRUN echo tagged > /golem-tagged\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(["build", "-t", "alice/app:1.0", "--progress", "quiet", "--cache-dir", ctx + "/cache", ctx], cwd: ctx)
        #expect(r.status == 0, "\(r.err)")
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: ctx)) ?? []).filter { $0.hasSuffix(".gvmi") }
        #expect(names.count == 1 && names[0].hasPrefix("alice-app-1.0-"), "\(names)")
        let name = try #require(names.first)
        #expect(name == "alice-app-1.0-\(pythonSHA3(ctx + "/" + name).prefix(10)).gvmi")
        #expect(r.out.contains(name), "the result names the file: \(r.out)")
    }
}

/// `gvmc convert IMAGE --push-to USER/REPO:TAG`, from an OCI layout of the registry fixtures.
@Suite(.serialized, .enabled(if: RegistryFixture.available, RegistryFixture.why))
struct ConvertAndPush {
    @Test func convertPushesTheImageItWrote() throws {
        let server = try GolemRegistryServer()
        let scratch = Scratch()
        let out = scratch.sub("multi.gvmi")
        let r = GVMCBinary.run(
            [
                "convert", "oci-layout://" + RegistryFixture.layout + ":multi", "-o", out, "--cache-dir", scratch.sub("cache"),
                "--push-to", "alice/multi:v1", "--registry", server.url, "--extra-json-info-path", scratch.sub("info.json"),
                "--metadata-file", scratch.sub("meta.json")
            ],
            env: PublishFixture.alice)
        #expect(r.status == 0, "\(r.err)")
        #expect(PublishFixture.field(r.out, "image hash") == pythonSHA3(out), "\(r.out)")
        #expect(PublishFixture.field(r.out, "tag") == "alice/multi:v1")
        // The info file carries the push: what a requestor needs, as the printed lines say it.
        let info = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.sub("info.json")))) as? [String: Any])
        #expect(info["sha3_224"] as? String == pythonSHA3(out) && info["tag"] as? String == "alice/multi:v1", "\(info)")
        #expect(info["task_package"] as? String == "hash:sha3:\(pythonSHA3(out)):\(info["download_url"] as? String ?? "?")")
        #expect(
            (info["download_url"] as? String)?.hasPrefix(server.url) == true && (info["image_id"] as? String)?.hasPrefix("sha256:") == true)
        // So does --metadata-file, beside the image and its source.
        let meta = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.sub("meta.json")))) as? [String: Any])
        let push = try #require(meta["push"] as? [String: Any], "\(meta)")
        #expect(push["tag"] as? String == "alice/multi:v1" && push["task_package"] as? String == info["task_package"] as? String, "\(push)")
        #expect(push["chunks_sent"] as? Int == push["chunks_total"] as? Int && (push["chunks_total"] as? Int ?? 0) > 0, "\(push)")
        #expect((meta["image"] as? [String: Any])?["sha3_224"] as? String == pythonSHA3(out) && meta["source"] != nil)
        // The push's vertices follow the conversion's on one display.
        #expect(r.err.contains(" pushing to \(server.url) as alice/multi:v1\n") && !r.err.contains(" hashing "), "\(r.err)")
    }
}

extension ConvertAndPush {
    /// `-t` without `-o`: `user-repo-tag-<10 hex of the image id>.gvmi`, gvmkit-build's name.
    @Test func tagNamesTheOutputAfterTheImageID() throws {
        let scratch = Scratch()
        let r = GVMCBinary.run(
            [
                "convert", "oci-layout://" + RegistryFixture.layout + ":multi", "-t", "alice/multi:v1", "--progress", "quiet",
                "--cache-dir", scratch.sub("cache"), "--metadata-file", scratch.sub("meta.json")
            ], cwd: scratch.path)
        #expect(r.status == 0, "\(r.err)")
        let meta = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.sub("meta.json")))) as? [String: Any])
        let source = try #require(meta["source"] as? [String: Any], "\(meta)")
        let id = try #require(source["image_id"] as? String ?? source["imageID"] as? String, "\(source)")
        let name = "alice-multi-v1-\(id.dropFirst("sha256:".count).prefix(10)).gvmi"
        #expect(
            FileManager.default.fileExists(atPath: scratch.sub(name)),
            "\(name): \((try? FileManager.default.contentsOfDirectory(atPath: scratch.path)) ?? [])")
    }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (the run's sandbox) and busybox (apt-get install busybox-static)"))
struct RunFromTheRegistry {
    @Test func runPullsATaggedImageOnceAndRunsIt() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            try FileManager.default.createDirectory(atPath: dir + "/root/" + d, withIntermediateDirectories: true)
        }
        try FileManager.default.copyItem(atPath: BuildFixture.busybox!, toPath: dir + "/root/bin/busybox")
        let pack = GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/tool.gvmi", "--no-block-store"])
        try #require(pack.status == 0, "\(pack.err)")
        let push = GVMCBinary.run(
            ["push", dir + "/tool.gvmi", "alice/tool:1", "--registry", server.url, "--progress", "quiet"], env: PublishFixture.alice)
        try #require(push.status == 0, "\(push.err)")
        let hash = try #require(PublishFixture.field(push.out, "image hash"))
        let args = ["--registry", server.url, "--cache-dir", dir + "/cache", "--", "/bin/busybox", "echo", "from the registry"]
        server.resetCounters()
        let first = GVMCBinary.run(["run", "alice/tool:1"] + args)
        #expect(first.status == 0 && first.out.contains("from the registry"), "\(first.out) \(first.err)")
        #expect(server.counters()["info"] == 1, "the tag is looked up once: \(server.counters())")
        #expect(server.counters()["download"] == 1)
        // The download as a vertex with its status, as `gvmc pull` shows it (plain: not a terminal).
        #expect(first.err.contains("#1 pulling alice/tool:1 (sha3:\(hash)) from \(server.url)\n#1 downloading "), "\(first.err)")
        #expect(first.err.contains("\n#1 DONE "), "\(first.err)")
        #expect(FileManager.default.contentsEqual(atPath: dir + "/tool.gvmi", andPath: dir + "/cache/golem-images/\(hash).gvmi"))
        // By hash, from the cache: nothing pulled again.
        let second = GVMCBinary.run(["run", hash] + args)
        #expect(second.status == 0 && second.out.contains("from the registry") && !second.err.contains("pulling"), "\(second.err)")
        // --progress quiet: nothing about the pull.
        let quiet = GVMCBinary.run(
            ["run", "alice/tool:1", "--progress", "quiet"] + args.map { $0 == dir + "/cache" ? dir + "/cache2" : $0 })
        #expect(
            quiet.status == 0 && quiet.out.contains("from the registry") && !quiet.err.contains("pull") && !quiet.err.contains("#1"),
            "\(quiet.err)")
        let unknown = GVMCBinary.run(["run", "alice/nothing:1"] + args)
        #expect(unknown.status == 125 && unknown.err.contains("alice/nothing:1"), "\(unknown.err)")
    }
}
