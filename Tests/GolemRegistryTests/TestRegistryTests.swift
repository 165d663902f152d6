// The test registry is checked with the real clients before gvmc is tested against it:
// gvmkit-build 0.3.19 uploads to it anonymously and with a tag (and fails with a wrong token),
// and yapapi 0.13.1 resolves what it holds to a task package whose bytes hash to its name.
import Foundation
import Testing
import TestSupport

@Suite(.enabled(if: GolemClients.hasGvmkitBuild && GolemClients.hasYapapi, Comment(rawValue: GolemClients.why)))
struct TestRegistryWithRealClients {
    @Test func gvmkitBuildPushesToItAndYapapiResolvesWhatItHolds() throws {
        let server = try GolemRegistryServer()
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/app.gvmi"
        writeRandomFile(file, count: 5 * 1_048_576 + 9, seed: 3)
        let sha3 = pythonSHA3(file)

        let anonymous = GolemClients.gvmkit(
            ["-d", file, "--push", "--nologin", "--hide-progress"], environment: ["REGISTRY_URL": server.url])
        #expect(anonymous.status == 0 && anonymous.output.contains("image validated successfully"), "\(anonymous.output)")
        #expect(server.counters()["chunks_stored"] == 3)
        #expect(server.counters()["chunk_posts"] == 3)

        let tagged = GolemClients.gvmkit(
            ["-d", file, "--push-to", "alice/app:1.0", "--hide-progress"],
            environment: ["REGISTRY_URL": server.url, "REGISTRY_USER": "alice", "REGISTRY_TOKEN": "secret"])
        #expect(tagged.status == 0 && tagged.output.contains("alice/app:1.0"), "\(tagged.output)")

        let wrong = GolemClients.gvmkit(
            ["-d", file, "--push-to", "alice/app:1.1", "--hide-progress"],
            environment: ["REGISTRY_URL": server.url, "REGISTRY_USER": "alice", "REGISTRY_TOKEN": "nope"])
        #expect(wrong.status != 0 && wrong.output.contains("failed to log in"), "\(wrong.output)")

        for resolved in [GolemClients.yapapiResolve(server.url, tag: "alice/app:1.0"), GolemClients.yapapiResolve(server.url, hash: sha3)] {
            let package = resolved.output.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(resolved.status == 0 && package.hasPrefix("hash:sha3:\(sha3):http://"), "\(resolved.output)")
            let url = String(package.dropFirst("hash:sha3:".count + 56 + 1))
            #expect(Tools.run(["curl", "-sf", "-o", dir + "/downloaded", url]).status == 0)
            #expect(pythonSHA3(dir + "/downloaded") == sha3)
        }
        #expect(GolemClients.yapapiResolve(server.url, tag: "alice/app:9.9").status != 0, "an unknown tag does not resolve")
    }

    /// The fault switches the gvmc tests rely on do break the real client: one 503 or one cut
    /// connection aborts gvmkit-build's upload.
    @Test func gvmkitBuildFailsOnA503AndOnADroppedConnection() throws {
        let dir = scratchDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/app.gvmi"
        writeRandomFile(file, count: 9 * 1_048_576, seed: 4)
        for fault in [#"{"fail_chunks": 1}"#, #"{"drop_chunks": 1}"#] {
            let server = try GolemRegistryServer()
            server.faults(fault)
            let r = GolemClients.gvmkit(["-d", file, "--push", "--nologin", "--hide-progress"], environment: ["REGISTRY_URL": server.url])
            #expect(r.status != 0, "\(fault): \(r.output)")
        }
    }
}
