// `gvmc manifest create | sign | verify` end to end: a packed image, yapapi's manifest model,
// openssl checking gvmc's signatures and making signatures gvmc checks.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: PKI.available, "needs openssl (apt-get install openssl)"))
struct ManifestCommands {
    /// Packs a one-file image and returns its path and SHA3-224 as `gvmc inspect` prints it.
    func image(_ dir: String, _ name: String, content: String) throws -> (path: String, hash: String) {
        try FileManager.default.createDirectory(atPath: dir + "/\(name)-root/etc", withIntermediateDirectories: true)
        write(dir + "/\(name)-root/etc/motd", content)
        let pack = GVMCBinary.run(["pack", dir + "/\(name)-root", "-o", dir + "/\(name).gvmi"], env: ["SOURCE_DATE_EPOCH": "1700000000"])
        try #require(pack.status == 0, "\(pack.err)")
        let inspect = GVMCBinary.run(["inspect", "--json", dir + "/\(name).gvmi"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        return (dir + "/\(name).gvmi", try #require(doc["sha3_224"] as? String))
    }

    @Test(.enabled(if: GolemClients.hasYapapi, "needs yapapi in .venv (make test-deps installs yapapi==0.13.1)"))
    func yapapiLoadsTheManifestAndItsHashIsTheImages() throws {
        let pki = try PKI()
        let app = try image(pki.dir, "app", content: "hello\n")
        let create = GVMCBinary.run([
            "manifest", "create", app.path, "--url", "http://127.0.0.1:8000/download/x",
            "--outbound", "https://api.example.com", "--name", "app", "--version", "1.0.0",
            "--author", "Ann", "-o", pki.dir + "/manifest.json"
        ])
        #expect(create.status == 0, "\(create.err)")
        let script = """
            import json, sys
            from yapapi.payload.manifest import Manifest
            m = Manifest.parse_obj(json.load(open(sys.argv[1])), by_alias=True)
            print(m.payload[0].hash, m.payload[0].urls[0], m.comp_manifest.net.inet.out.urls[0], m.metadata.name, m.expires_at > m.created_at)
            """
        let parsed = Tools.run([GolemClients.python, "-c", script, pki.dir + "/manifest.json"])
        #expect(parsed.status == 0, "\(parsed.output)")
        #expect(parsed.output == "sha3:\(app.hash) http://127.0.0.1:8000/download/x https://api.example.com app True\n")
    }

    @Test func createPipedIntoSignGivesADemandThatOpensslAndVerifyAccept() throws {
        let pki = try PKI()
        let app = try image(pki.dir, "app", content: "hello\n")
        let out = pki.dir + "/signed"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let gvmc = GVMCBinary.path
        let pipe = Tools.run([
            "sh", "-c",
            "\(gvmc) manifest create \(app.path) --url http://r.example/download/x --outbound https://api.example.com | \(gvmc) manifest sign - --key \(pki.dir)/author.key --cert \(pki.dir)/author.pem -o \(out)"
        ])
        #expect(pipe.status == 0, "\(pipe.output)")
        #expect(FileManager.default.fileExists(atPath: out + "/demand.json"))
        // openssl, as Golem's documentation verifies: the raw signature over manifest.json.base64.
        try pki.openssl(
            "dgst", "-sha256", "-verify", "author.pub", "-signature", "signed/manifest.json.base64.sign.sha256",
            "signed/manifest.json.base64")
        let verify = GVMCBinary.run(["manifest", "verify", out, "--image", app.path, "--ca", pki.dir + "/ca.pem"])
        #expect(verify.status == 0, "\(verify.err)")
        #expect(verify.out.contains("ok: signature: sha256 over the base64 payload, by CN=Author,O=Golem test"))
        #expect(verify.out.contains("ok: certificate: chains to CN=Test CA"))
        // Refusals, each named: another image, another CA, a changed payload.
        let other = try image(pki.dir, "other", content: "bye\n")
        let wrongImage = GVMCBinary.run(["manifest", "verify", out, "--image", other.path])
        #expect(
            wrongImage.status == 1 && wrongImage.err.contains("no payload has the image's hash sha3:\(other.hash)"), "\(wrongImage.err)")
        let wrongCA = GVMCBinary.run(["manifest", "verify", out, "--ca", pki.dir + "/other-ca.pem"])
        #expect(wrongCA.status == 1 && wrongCA.err.contains("certificate: not issued by the --ca certificates"), "\(wrongCA.err)")
        var demand = try #require(try JSONSerialization.jsonObject(with: Data(pki.file("signed/demand.json"))) as? [String: String])
        var manifest = try #require(Data(base64Encoded: demand["golem.srv.comp.payload"]!))
        let i = manifest.firstIndex(of: UInt8(ascii: "x"))!  // in the download URL
        manifest[i] = UInt8(ascii: "y")
        demand["golem.srv.comp.payload"] = manifest.base64EncodedString()
        try JSONSerialization.data(withJSONObject: demand).write(to: URL(fileURLWithPath: out + "/demand.json"))
        let flipped = GVMCBinary.run(["manifest", "verify", out + "/demand.json"])
        #expect(flipped.status == 1 && flipped.err.contains("signature: does not verify"), "\(flipped.err)")
    }

    @Test func verifyAcceptsTheOpensslWayAndRefusesExpiredAndContradictoryManifests() throws {
        let pki = try PKI()
        let app = try image(pki.dir, "app", content: "hello\n")
        let create = GVMCBinary.run([
            "manifest", "create", app.path, "--url", "http://r.example/x", "--outbound-any", "-o", pki.dir + "/manifest.json"
        ])
        #expect(create.status == 0, "\(create.err)")
        _ = Tools.run(["sh", "-c", "cd \(pki.dir) && base64 --wrap=0 manifest.json > manifest.json.base64"])
        try pki.openssl("dgst", "-sha256", "-sign", "author.key", "-out", "manifest.json.base64.sign.sha256", "manifest.json.base64")
        let ok = GVMCBinary.run([
            "manifest", "verify", pki.dir + "/manifest.json", "--signature", pki.dir + "/manifest.json.base64.sign.sha256",
            "--cert", pki.dir + "/author.pem", "--image", app.path, "--ca", pki.dir + "/ca.pem"
        ])
        #expect(ok.status == 0, "\(ok.err)")
        // Made in 2023 for one day: expired now.
        let old = GVMCBinary.run(
            ["manifest", "create", "--hash", app.hash, "--url", "http://r.example/x", "--expires", "1d", "-o", pki.dir + "/old.json"],
            env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(old.status == 0 && pki.text("old.json").contains("\"expiresAt\": \"2023-11-15T22:13:20Z\""), "\(old.err)")
        let expired = GVMCBinary.run(["manifest", "verify", pki.dir + "/old.json"])
        #expect(expired.status == 1 && expired.err.contains("expiresAt: the manifest expired at 2023-11-15T22:13:20Z"), "\(expired.err)")
        // Hand-edited: urls beside unrestricted.
        let both = pki.text("manifest.json").replacingOccurrences(
            of: "\"unrestricted\": {", with: "\"urls\": [\"https://a.example\"],\n\"unrestricted\": {")
        write(pki.dir + "/both.json", both)
        let contradictory = GVMCBinary.run(["manifest", "verify", pki.dir + "/both.json"])
        #expect(
            contradictory.status == 1 && contradictory.err.contains("\"urls\" and \"unrestricted\" exclude each other"),
            "\(contradictory.err)")
        // create refuses the two forms together, and a manifest without a download URL.
        let conflicting = GVMCBinary.run([
            "manifest", "create", app.path, "--url", "http://r.example/x", "--outbound-any", "--outbound", "https://a.example"
        ])
        #expect(conflicting.status == 1 && conflicting.err.contains("exclude each other"))
        // Without --url the registry is asked for the image's URL; one that cannot be reached is named.
        let noURL = GVMCBinary.run(["manifest", "create", app.path], env: ["REGISTRY_URL": "http://127.0.0.1:9"])
        #expect(noURL.status == 1 && noURL.err.contains("127.0.0.1:9") && noURL.err.contains("give --url"), "\(noURL.err)")
        // The key of another certificate is refused before anything is written.
        let wrongKey = GVMCBinary.run([
            "manifest", "sign", pki.dir + "/manifest.json", "--key", pki.dir + "/ca.key", "--cert", pki.dir + "/author.pem", "-o",
            pki.dir + "/nowhere"
        ])
        #expect(wrongKey.status == 1 && wrongKey.err.contains("does not belong to the certificate"))
        #expect(!FileManager.default.fileExists(atPath: pki.dir + "/nowhere"))
    }

    @Test func sameInputsAndSourceDateEpochGiveTheSameManifest() throws {
        let args = [
            "manifest", "create", "--hash", String(repeating: "0f", count: 28), "--url", "http://r.example/x", "--outbound",
            "https://a.example"
        ]
        let a = GVMCBinary.run(args, env: ["SOURCE_DATE_EPOCH": "1700000000"])
        let b = GVMCBinary.run(args, env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(a.status == 0 && a.out == b.out && a.out.contains("\"createdAt\": \"2023-11-14T22:13:20Z\""))
    }

    @Test(.enabled(if: BuildFixture.busybox != nil, "needs busybox (apt-get install busybox-static)"))
    func buildWritesAManifestForTheImageItMade() throws {
        let context = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\n")
        defer { try? FileManager.default.removeItem(atPath: context) }
        let missing = GVMCBinary.run(["build", "--manifest-outbound", "https://api.example.com", "-o", context + "/app.gvmi", context])
        #expect(missing.status == 2 && missing.err.contains("--manifest-url"), "\(missing.err)")
        #expect(!FileManager.default.fileExists(atPath: context + "/app.gvmi"))
        let build = GVMCBinary.run([
            "build", "--manifest-outbound", "https://api.example.com", "--manifest-url", "http://r.example/download/app",
            "-o", context + "/app.gvmi", "--cache-dir", context + "/cache", context
        ])
        #expect(build.status == 0, "\(build.err)")
        let inspect = GVMCBinary.run(["inspect", "--json", context + "/app.gvmi"])
        let hash = try #require((try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])?["sha3_224"] as? String)
        let verify = GVMCBinary.run(["manifest", "verify", context + "/app.manifest.json", "--image", context + "/app.gvmi"])
        #expect(verify.status == 0 && verify.out.contains("ok: payload: names the image (sha3:\(hash))"), "\(verify.out) \(verify.err)")
    }

    @Test func aTaggedOrPushedImageGetsItsManifestFromTheRegistry() throws {
        let server = try GolemRegistryServer()
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = try PublishFixture.image(dir, bytes: 1 << 20, seed: 18)
        // push --manifest-outbound: the manifest names the pushed image at its download URL.
        let push = GVMCBinary.run(
            [
                "push", file, "alice/app:1.0", "--registry", server.url, "--progress", "quiet",
                "--manifest-outbound", "https://api.example.com"
            ], env: PublishFixture.alice)
        #expect(push.status == 0, "\(push.err)")
        let hash = try #require(PublishFixture.field(push.out, "image hash"))
        let url = try #require(PublishFixture.field(push.out, "download URL"))
        let written = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/app.manifest.json"))) as? [String: Any])
        let payload = try #require((written["payload"] as? [[String: Any]])?.first)
        #expect(payload["hash"] as? String == "sha3:" + hash && payload["urls"] as? [String] == [url])
        // manifest create --tag: hash and URL from /v1/image/info; --hash alone: the URL from it.
        let byTag = GVMCBinary.run([
            "manifest", "create", "--tag", "alice/app:1.0", "--registry", server.url, "--outbound", "https://api.example.com"
        ])
        #expect(byTag.status == 0, "\(byTag.err)")
        #expect(byTag.out.contains("\"hash\": \"sha3:\(hash)\"") && byTag.out.contains("\"\(url)\""), "\(byTag.out)")
        let byHash = GVMCBinary.run(["manifest", "create", "--hash", hash, "--registry", server.url])
        #expect(byHash.status == 0 && byHash.out.contains("\"\(url)\""), "\(byHash.err)")
        let unknown = GVMCBinary.run(["manifest", "create", "--tag", "alice/nope:1", "--registry", server.url])
        #expect(unknown.status == 1 && unknown.err.contains("alice/nope:1"), "\(unknown.err)")
        // What push wrote verifies against the image.
        let verify = GVMCBinary.run(["manifest", "verify", dir + "/app.manifest.json", "--image", file])
        #expect(verify.status == 0, "\(verify.err)")
    }
}
