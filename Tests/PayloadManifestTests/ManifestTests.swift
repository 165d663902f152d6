// The manifest model, its checks, and signatures checked against openssl (keys and certificates
// made by openssl at test time, signatures verified by openssl and made by openssl).
import Foundation
import PayloadManifest
import Testing
import TestSupport

let hashA = String(repeating: "ab", count: 28)
let hashB = String(repeating: "cd", count: 28)
let t0 = Date(timeIntervalSince1970: 1_780_000_000)  // 2026-05-28

func request(_ edit: (inout ManifestRequest) -> Void = { _ in }) -> ManifestRequest {
    var r = ManifestRequest(imageHash: hashA, createdAt: t0)
    r.urls = ["http://registry.example/download/x"]
    edit(&r)
    return r
}

@Suite struct ManifestModel {
    @Test func createWritesTheDocumentedShapeAndReadsBack() throws {
        let m = try request {
            $0.outbound = ["https://api.example.com"]
            $0.name = "app"; $0.version = "1.0.0"
        }.manifest()
        let json = try #require(try JSONSerialization.jsonObject(with: Data(m.jsonBytes())) as? [String: Any])
        #expect(json["version"] as? String == "0.1.0")
        #expect(json["createdAt"] as? String == "2026-05-28T20:26:40Z")
        #expect(json["expiresAt"] as? String == "2026-08-26T20:26:40Z")  // 90 days
        let payload = try #require((json["payload"] as? [[String: Any]])?.first)
        #expect(payload["hash"] as? String == "sha3:" + hashA)
        #expect(payload["platform"] as? [String: String] == ["arch": "x86_64", "os": "linux"])
        let out = try #require(
            ((json["compManifest"] as? [String: Any])?["net"] as? [String: Any]).flatMap {
                ($0["inet"] as? [String: Any])?["out"] as? [String: Any]
            })
        #expect(out["protocols"] as? [String] == ["http", "https", "ws", "wss"])
        #expect(out["urls"] as? [String] == ["https://api.example.com"])
        let script = try #require((json["compManifest"] as? [String: Any])?["script"] as? [String: Any])
        #expect(script["commands"] as? [String] == ["run .*", "transfer .*"] && script["match"] as? String == "regex")
        #expect(try PayloadManifest(json: m.jsonBytes()) == m)
        #expect(
            m.jsonBytes()
                == (try request {
                    $0.outbound = ["https://api.example.com"]; $0.name = "app"; $0.version = "1.0.0"
                }.manifest().jsonBytes()))
    }

    @Test func outboundAnyWritesUnrestrictedAndExcludesURLs() throws {
        let m = try request { $0.outboundAny = true }.manifest()
        let text = String(decoding: m.jsonBytes(), as: UTF8.self)
        #expect(text.contains("\"unrestricted\": {\n            \"urls\": true\n          }"))
        #expect(text.components(separatedBy: "\"urls\"").count == 3)  // the payload's and unrestricted's
        #expect(throws: ManifestError.self) {
            try request {
                $0.outboundAny = true; $0.outbound = ["https://a.example"]
            }.manifest()
        }
    }

    @Test func requestsThatCannotMakeAValidManifestAreRefused() {
        func message(_ edit: (inout ManifestRequest) -> Void) -> String {
            do { _ = try request(edit).manifest(); return "" } catch { return "\(error)" }
        }
        #expect(message { $0.urls = [] }.contains("--url"))
        #expect(message { $0.imageHash = "1234" }.contains("56 hex digits"))
        #expect(message { $0.name = "x" }.contains("--name and --version"))
        #expect(
            message {
                $0.name = "x"; $0.version = "1.0"
            }.contains("metadata.version: \"1.0\" is not a semantic version"))
        #expect(message { $0.outbound = ["ftp://files.example"] }.contains("scheme ftp is not among the protocols"))
        #expect(
            message {
                $0.outbound = ["https://a.example"]; $0.protocols = ["gopher"]
            }.contains("\"gopher\" is not one of"))
        #expect(message { $0.urls = ["registry.example/x"] }.contains("payload[0].urls[0]"))
    }

    @Test func expiryDurationsAndTimes() throws {
        #expect(try ManifestRequest.expiry("1w2d", after: t0) == t0.addingTimeInterval(9 * 86_400))
        #expect(try ManifestRequest.expiry("12h", after: t0) == t0.addingTimeInterval(43_200))
        #expect(try ManifestRequest.expiry("2030-01-01T00:00:00Z", after: t0) == Date(timeIntervalSince1970: 1_893_456_000))
        #expect(throws: ManifestError.self) { try ManifestRequest.expiry("soon", after: t0) }
        #expect(throws: ManifestError.self) { try ManifestRequest.expiry("5", after: t0) }
    }

    @Test func parsingNamesThePathOfEachMistake() {
        func message(_ json: String) -> String {
            do { _ = try PayloadManifest(json: Array(json.utf8)); return "" } catch { return "\(error)" }
        }
        let good =
            #"{"version":"0.1.0","createdAt":"2022-09-15T00:00:00.000000Z","expiresAt":"2100-01-01T00:00:00Z","payload":[{"urls":["http://x.example/i.gvmi"],"hash":"sha3:\#(hashA)"}]}"#
        #expect(message(good) == "")
        #expect(
            message(good.replacingOccurrences(of: "\"hash\"", with: "\"hahs\"")).contains(
                "payload[0].hahs: unknown key (did you mean \"hash\"?)"))
        #expect(
            message(good.replacingOccurrences(of: "\"urls\":[\"http://x.example/i.gvmi\"]", with: "\"urls\":\"http://x\"")).contains(
                "payload[0].urls: expected"))
        #expect(
            message(good.replacingOccurrences(of: "2100-01-01T00:00:00Z", with: "tomorrow")).contains(
                "expiresAt: \"tomorrow\" is not an RFC 3339 time"))
        let both = good.replacingOccurrences(
            of: "\"}]}",
            with:
                #""}],"compManifest":{"version":"0.1.0","net":{"inet":{"out":{"urls":["https://a.example"],"unrestricted":{"urls":true}}}}}}"#
        )
        #expect(message(both).contains("compManifest.net.inet.out.unrestricted: \"urls\" and \"unrestricted\" exclude each other"))
        #expect(message("{\"version\": ").contains("not valid JSON"))
    }

    @Test func checksCoverDatesHashesAndVersions() throws {
        let m = try request().manifest()
        #expect(m.problems(now: t0).isEmpty)
        #expect(
            m.problems(now: t0.addingTimeInterval(91 * 86_400)).map(\.description).contains {
                $0.hasPrefix("expiresAt: the manifest expired")
            })
        #expect(m.problems(now: t0.addingTimeInterval(-3600)).map(\.at) == ["createdAt"])
        #expect(
            m.problems(now: t0, imageHash: hashB).map(\.description).contains {
                $0.contains("no payload has the image's hash sha3:\(hashB)")
            })
        #expect(m.problems(now: t0, imageHash: hashA.uppercased()).isEmpty)
        var bad = m
        bad.version = "0.1"
        bad.payload[0].hash = "sha256:" + hashA
        #expect(bad.problems(now: t0).map(\.at) == ["version", "payload[0].hash"])
    }
}

@Suite(.enabled(if: PKI.available, "needs openssl (apt-get install openssl)"))
struct ManifestSignatures {
    // Certificates made during the test are valid from their making: check as a little later.
    let now = Date().addingTimeInterval(120)

    func manifest() throws -> [UInt8] {
        var r = ManifestRequest(imageHash: hashA, createdAt: now.addingTimeInterval(-180))
        r.urls = ["http://registry.example/download/x"]
        r.outbound = ["https://api.example.com"]
        return try r.manifest().jsonBytes()
    }

    @Test(arguments: ["sha256", "sha512"]) func opensslVerifiesWhatGvmcSigns(digest: String) throws {
        let pki = try PKI()
        let bytes = try manifest()
        let signed = try SignedManifest.sign(
            manifest: bytes, keyPEM: pki.text("author.key"), certificate: pki.file("author.pem"),
            digest: try #require(SignatureDigest(openSSLName: digest)), now: now)
        #expect(signed.payload == Data(bytes).base64EncodedString())
        let written = try signed.write(to: pki.dir, manifestName: "manifest.json", certificateName: "author.pem")
        #expect(
            written.map { ($0 as NSString).lastPathComponent } == [
                "manifest.json.base64", "manifest.json.base64.sign.\(digest)", "manifest.json.base64.sign.\(digest).base64",
                "author.pem.base64", "demand.json"
            ])
        try pki.openssl(
            "dgst", "-\(digest)", "-verify", "author.pub", "-signature", "manifest.json.base64.sign.\(digest)", "manifest.json.base64")
        // Tampered payload: openssl refuses, as a provider would.
        var tampered = pki.file("manifest.json.base64")
        tampered[10] = tampered[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        pki.put("tampered.base64", tampered)
        #expect(throws: PKIError.self) {
            try pki.openssl(
                "dgst", "-\(digest)", "-verify", "author.pub", "-signature", "manifest.json.base64.sign.\(digest)", "tampered.base64")
        }
        let demand = try #require(try JSONSerialization.jsonObject(with: Data(pki.file("demand.json"))) as? [String: String])
        #expect(demand["golem.srv.comp.payload"] == signed.payload)
        #expect(demand["golem.srv.comp.payload.sig.algorithm"] == digest)
        #expect(Data(base64Encoded: demand["golem.srv.comp.payload.cert"]!) == Data(pki.file("author.pem")))
    }

    @Test func everyKeyFormatSigns() throws {
        let pki = try PKI()
        try pki.openssl("rsa", "-in", "author.key", "-traditional", "-out", "author.pkcs1.key")
        #expect(pki.text("author.pkcs1.key").hasPrefix("-----BEGIN RSA PRIVATE KEY-----"))
        #expect(pki.text("author.key").hasPrefix("-----BEGIN PRIVATE KEY-----"))
        try pki.openssl("ecparam", "-genkey", "-name", "prime256v1", "-noout", "-out", "ec.key")
        try pki.openssl("req", "-x509", "-key", "ec.key", "-out", "ec.pem", "-days", "5", "-subj", "/CN=EC author")
        try pki.openssl("x509", "-pubkey", "-noout", "-in", "ec.pem", "-out", "ec.pub")
        let bytes = try manifest()
        for (key, cert, pub) in [("author.pkcs1.key", "author.pem", "author.pub"), ("ec.key", "ec.pem", "ec.pub")] {
            let signed = try SignedManifest.sign(
                manifest: bytes, keyPEM: pki.text(key), certificate: pki.file(cert), digest: .sha256, now: now)
            pki.put("sig.bin", signed.signature)
            pki.put("payload.b64", Array(signed.payload.utf8))
            try pki.openssl("dgst", "-sha256", "-verify", pub, "-signature", "sig.bin", "payload.b64")
        }
    }

    @Test func aKeyOfAnotherCertificateOrAnEncryptedKeyIsRefused() throws {
        let pki = try PKI()
        let bytes = try manifest()
        #expect {
            try SignedManifest.sign(
                manifest: bytes, keyPEM: pki.text("ca.key"), certificate: pki.file("author.pem"), digest: .sha256, now: now)
        } throws: { "\($0)".contains("does not belong to the certificate") }
        // A chain with the author first: providers take the last certificate as the signer.
        pki.put("wrong-order.pem", pki.file("author.pem") + pki.file("ca.pem"))
        #expect {
            try SignedManifest.sign(
                manifest: bytes, keyPEM: pki.text("author.key"), certificate: pki.file("wrong-order.pem"), digest: .sha256, now: now)
        } throws: { "\($0)".contains("put the author's certificate last") }
        pki.put("chain.pem", pki.file("ca.pem") + pki.file("author.pem"))
        _ = try SignedManifest.sign(
            manifest: bytes, keyPEM: pki.text("author.key"), certificate: pki.file("chain.pem"), digest: .sha256, now: now)
        try pki.openssl("pkey", "-in", "author.key", "-aes256", "-passout", "pass:secret", "-out", "encrypted.key")
        #expect {
            try SignedManifest.sign(manifest: bytes, keyPEM: pki.text("encrypted.key"), certificate: nil, digest: .sha256, now: now)
        } throws: { "\($0)".contains("passphrase") }
        #expect {
            try SignedManifest.sign(manifest: Array("{}".utf8), keyPEM: pki.text("author.key"), certificate: nil, digest: .sha256, now: now)
        } throws: { "\($0)".contains("version: missing") }
    }

    @Test func verifyAcceptsAnOpensslSignatureAndNamesEachRefusal() async throws {
        let pki = try PKI()
        let bytes = try manifest()
        pki.put("manifest.json", bytes)
        // Golem's documentation: base64 --wrap=0, openssl dgst -sha256 -sign, base64 of signature and certificate.
        _ = Tools.run([
            "sh", "-c",
            "cd '\(pki.dir)' && base64 --wrap=0 manifest.json > manifest.json.base64 && base64 --wrap=0 author.pem > author.pem.base64"
        ])
        try pki.openssl("dgst", "-sha256", "-sign", "author.key", "-out", "manifest.json.base64.sign.sha256", "manifest.json.base64")
        _ = Tools.run(["sh", "-c", "cd '\(pki.dir)' && base64 --wrap=0 manifest.json.base64.sign.sha256 > sig.base64"])
        let ok = try ManifestBundle.load(
            path: pki.dir + "/manifest.json", signature: pki.dir + "/sig.base64", certificate: pki.dir + "/author.pem.base64")
        let report = await ManifestVerifier.verify(ok, imageHash: hashA, trusted: pki.file("ca.pem"), now: now)
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.passed.count == 4, "\(report.passed)")

        func problems(_ b: ManifestBundle, image: String = hashA, ca: String = "ca.pem", at time: Date? = nil) async -> [String] {
            await ManifestVerifier.verify(b, imageHash: image, trusted: pki.file(ca), now: time ?? now).problems.map(\.description)
        }
        // A flipped byte in the manifest.
        var flipped = bytes
        flipped[flipped.count / 2] ^= 0x01
        pki.put("flipped.json", flipped)
        let flippedBundle = try ManifestBundle.load(
            path: pki.dir + "/flipped.json", signature: pki.dir + "/sig.base64", certificate: pki.dir + "/author.pem")
        #expect(await problems(flippedBundle).contains { $0.hasPrefix("signature: does not verify") })
        // A different image; an expired manifest; a certificate another CA did not issue.
        #expect(await problems(ok, image: hashB).contains { $0.contains("no payload has the image's hash") })
        #expect(await problems(ok, at: now.addingTimeInterval(100 * 86_400)).contains { $0.hasPrefix("expiresAt: the manifest expired") })
        #expect(await problems(ok, ca: "other-ca.pem").contains { $0.hasPrefix("certificate: not issued by the --ca certificates") })
        // Signed over `base64 manifest.json` (wrapped, final newline): the cause is named.
        _ = Tools.run(["sh", "-c", "cd '\(pki.dir)' && base64 manifest.json > wrapped.base64"])
        try pki.openssl("dgst", "-sha256", "-sign", "author.key", "-out", "wrapped.sig", "wrapped.base64")
        let wrapped = try ManifestBundle.load(
            path: pki.dir + "/manifest.json", signature: pki.dir + "/wrapped.sig", certificate: pki.dir + "/author.pem")
        #expect(await problems(wrapped).contains { $0.contains("wrapped at 76 columns") })
    }

    @Test func verifyReadsWhatSignWrote() async throws {
        let pki = try PKI()
        let signed = try SignedManifest.sign(
            manifest: try manifest(), keyPEM: pki.text("author.key"), certificate: pki.file("author.pem"), digest: .sha512, now: now)
        _ = try signed.write(to: pki.dir, manifestName: "m.json", certificateName: "author.pem")
        for input in [pki.dir, pki.dir + "/demand.json"] {
            let report = await ManifestVerifier.verify(
                try ManifestBundle.load(path: input), imageHash: hashA, trusted: pki.file("ca.pem"), now: now)
            #expect(report.problems.isEmpty, "\(report.problems)")
            #expect(report.passed.contains { $0.hasPrefix("signature: sha512") })
        }
        let demand = pki.dir + "/demand.json"
        var object = try #require(try JSONSerialization.jsonObject(with: Data(pki.file("demand.json"))) as? [String: String])
        object["golem.srv.comp.payload.sig.algorithm"] = "sha256"
        try JSONSerialization.data(withJSONObject: object).write(to: URL(fileURLWithPath: demand))
        let report = await ManifestVerifier.verify(try ManifestBundle.load(path: demand), now: now)
        #expect(report.problems.map(\.at) == ["signature"])
    }

    @Test func theChainIsCheckedAtTheVerificationTimeNotByTheClock() async throws {
        let pki = try PKI()
        let signed = try SignedManifest.sign(
            manifest: try manifest(), keyPEM: pki.text("author.key"), certificate: pki.file("author.pem"), digest: .sha256, now: now)
        _ = try signed.write(to: pki.dir, manifestName: "m.json", certificateName: "author.pem")
        let bundle = try ManifestBundle.load(path: pki.dir)
        #expect(await ManifestVerifier.verify(bundle, trusted: pki.file("ca.pem"), now: now).problems.isEmpty)
        // 40 days on, the manifest (90 days) is still valid; the CA and the author's certificate (30) are not.
        let later = await ManifestVerifier.verify(bundle, trusted: pki.file("ca.pem"), now: now.addingTimeInterval(40 * 86_400))
        let problems = later.problems.map(\.description)
        #expect(
            problems.contains { $0.hasPrefix("certificate: not issued by the --ca certificates") && $0.contains("has expired") },
            "\(problems)")
        #expect(!problems.contains { $0.hasPrefix("expiresAt") }, "\(problems)")
    }
}
