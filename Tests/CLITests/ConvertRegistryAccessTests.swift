// `gvmc convert` against registries that ask for credentials, speak TLS, fail, or are shared:
// basic and bearer auth, --insecure-registry, retries and resume through a fault-injecting proxy,
// digest checks, the blob cache across runs and processes, Ctrl-C during a pull.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension ConvertCommand {
    @Test func basicAuthFromFlagsEnvironmentAndDockerConfig() throws {
        let scratch = Scratch()
        let host = RegistryFixture.registry("BASIC")
        let ref = host + "/test/multi:v1"
        let anonymous = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("a.gvmi"), "--cache-dir", scratch.sub("c")], env: ["HOME": scratch.path])
        #expect(
            anonymous.status == 1 && anonymous.err.contains("requires a username and password")
                && anonymous.err.contains("--registry-auth \(host)="))
        let wrong = GVMCBinary.run([
            "convert", ref, "--registry-auth", "\(host)=gvmc:wrong", "-o", scratch.sub("a.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(wrong.status == 1 && wrong.err.contains("authentication failed"), "\(wrong.err)")
        let flag = GVMCBinary.run([
            "convert", ref, "--registry-auth", "\(host)=gvmc:s3cret", "-o", scratch.sub("f.gvmi"), "--cache-dir", scratch.sub("c1")
        ])
        #expect(flag.status == 0, "\(flag.err)")
        let env = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("e.gvmi"), "--cache-dir", scratch.sub("c2")],
            env: ["GVMC_REGISTRY_AUTH": "\(host)=gvmc:s3cret"])
        #expect(env.status == 0, "\(env.err)")
        try FileManager.default.createDirectory(atPath: scratch.sub("docker"), withIntermediateDirectories: true)
        let auth = Data("gvmc:s3cret".utf8).base64EncodedString()
        write(scratch.sub("docker/config.json"), "{\"auths\":{\"http://\(host)\":{\"auth\":\"\(auth)\"}}}")
        let config = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("d.gvmi"), "--cache-dir", scratch.sub("c3")], env: ["DOCKER_CONFIG": scratch.sub("docker")])
        #expect(config.status == 0, "\(config.err)")
    }

    /// A registry that is not on loopback: HTTPS with a certificate gvmc must verify (a
    /// self-signed one fails), `--insecure-registry` accepts it, and a plain-HTTP registry is
    /// reached only with `--insecure-registry` (never a silent downgrade).
    @Test func tlsAndPlainRegistriesOffLoopbackNeedInsecureRegistry() throws {
        let ip = Tools.run(["bash", "-c", "hostname -I | tr ' ' '\\n' | grep -E '^[0-9.]+$' | grep -v '^127\\.' | head -1"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        guard !ip.isEmpty else {
            print("skipped: tlsAndPlainRegistriesOffLoopbackNeedInsecureRegistry needs a non-loopback IPv4 address")
            return
        }
        let scratch = Scratch()
        func port() -> String {
            Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('\(ip)',0)); print(s.getsockname()[1])"]).output
                .trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(
            Tools.run([
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", scratch.sub("tls.key"), "-out",
                scratch.sub("tls.crt"),
                "-days", "2", "-subj", "/CN=gvmc-tls", "-addext", "subjectAltName=IP:\(ip)"
            ]).status == 0)
        var servers: [Process] = []
        defer { for p in servers { kill(p.processIdentifier, SIGKILL); p.waitUntilExit() } }
        func start(_ name: String, _ port: String, tls: Bool) throws -> String {
            let tlsYAML = tls ? ", tls: {certificate: \(scratch.sub("tls.crt")), key: \(scratch.sub("tls.key"))}" : ""
            write(
                scratch.sub(name + ".yml"),
                """
                version: 0.1
                log: {level: error}
                storage: {filesystem: {rootdirectory: \(scratch.sub(name + "-data"))}}
                http: {addr: "\(ip):\(port)"\(tlsYAML)}
                """)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/docker-registry")
            p.arguments = ["serve", scratch.sub(name + ".yml")]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            servers.append(p)
            for _ in 0..<100 where Tools.run(["bash", "-c", "exec 3<>/dev/tcp/\(ip)/\(port)"]).status != 0 { usleep(100_000) }
            let push = Tools.run([
                "skopeo", "copy", "-q", "--dest-tls-verify=false", "oci:\(RegistryFixture.layout):multi",
                "docker://\(ip):\(port)/test/multi:v1"
            ])
            #expect(push.status == 0, "skopeo: \(push.output)")
            return "\(ip):\(port)"
        }
        let tlsHost = try start("tls", port(), tls: true)
        let plainHost = try start("plain", port(), tls: false)
        let verified = GVMCBinary.run(["convert", tlsHost + "/test/multi:v1", "-o", scratch.sub("v.gvmi"), "--cache-dir", scratch.sub("c")])
        #expect(
            verified.status == 1 && verified.err.contains("certificate is not trusted")
                && verified.err.contains("--insecure-registry \(tlsHost)")
                && !verified.err.contains("retrying"), "a certificate error is final, with the way out: \(verified.err)")
        let insecure = GVMCBinary.run([
            "convert", tlsHost + "/test/multi:v1", "--insecure-registry", tlsHost, "-o", scratch.sub("i.gvmi"), "--cache-dir",
            scratch.sub("c")
        ])
        #expect(insecure.status == 0, "\(insecure.err)")
        let plain = GVMCBinary.run(["convert", plainHost + "/test/multi:v1", "-o", scratch.sub("p.gvmi"), "--cache-dir", scratch.sub("c2")])
        #expect(
            plain.status == 1 && plain.err.contains("answers plain HTTP") && plain.err.contains("--insecure-registry \(plainHost)")
                && !plain.err.contains("retrying"), "no fallback to plain HTTP without --insecure-registry: \(plain.err)")
        let allowed = GVMCBinary.run([
            "convert", plainHost + "/test/multi:v1", "--insecure-registry", plainHost, "-o", scratch.sub("q.gvmi"), "--cache-dir",
            scratch.sub("c2")
        ])
        #expect(allowed.status == 0, "\(allowed.err)")
        #expect(
            !FileManager.default.fileExists(atPath: scratch.sub("v.gvmi")) && !FileManager.default.fileExists(atPath: scratch.sub("p.gvmi"))
        )
    }

    /// A token server that hands out tokens only for basic credentials, or for a posted refresh
    /// token (the `identitytoken` docker login stores for OAuth registries).
    @Test func bearerTokensForCredentialsAndIdentityTokens() throws {
        let scratch = Scratch()
        let host = RegistryFixture.registry("TOKAUTH")
        let ref = host + "/test/multi:v1"
        let anonymous = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("a.gvmi"), "--cache-dir", scratch.sub("c")], env: ["HOME": scratch.path])
        #expect(
            anonymous.status == 1 && anonymous.err.contains("HTTP 401") && anonymous.err.contains("--registry-auth \(host)="),
            "\(anonymous.err)")
        let flag = GVMCBinary.run([
            "convert", ref, "--registry-auth", "\(host)=gvmc:s3cret", "-o", scratch.sub("f.gvmi"), "--cache-dir", scratch.sub("c1")
        ])
        #expect(flag.status == 0, "\(flag.err)")
        try FileManager.default.createDirectory(atPath: scratch.sub("docker"), withIntermediateDirectories: true)
        write(scratch.sub("docker/config.json"), "{\"auths\":{\"\(host)\":{\"identitytoken\":\"gvmc-refresh\"}}}")
        let identity = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("i.gvmi"), "--cache-dir", scratch.sub("c2")], env: ["DOCKER_CONFIG": scratch.sub("docker")])
        #expect(identity.status == 0, "\(identity.err)")
        write(scratch.sub("docker/config.json"), "{\"auths\":{\"\(host)\":{\"identitytoken\":\"expired\"}}}")
        let stale = GVMCBinary.run(
            ["convert", ref, "-o", scratch.sub("s.gvmi"), "--cache-dir", scratch.sub("c3")], env: ["DOCKER_CONFIG": scratch.sub("docker")])
        #expect(stale.status == 1 && stale.err.contains("HTTP 401"), "\(stale.err)")
        let log = (try? String(contentsOfFile: (RegistryFixture.ports["WORK"] ?? "") + "/tokenauth-server.log", encoding: .utf8)) ?? ""
        #expect(
            log.contains("token Basic repository:test/multi:pull") && log.contains("token refresh repository:test/multi:pull"), "\(log)")
    }

    @Test func transientFaultsAreRetriedAndResumed() throws {
        let scratch = Scratch()
        let proxy = RegistryFixture.registry("PROXY")
        for mode in ["reset", "e500", "e429", "redirect"] {
            let r = GVMCBinary.run([
                "convert", "\(proxy)/f/\(mode)-\(UUID().uuidString.prefix(8).lowercased())/test/multi:v1", "-o",
                scratch.sub("\(mode).gvmi"),
                "--cache-dir", scratch.sub("cache-\(mode)")
            ])
            #expect(r.status == 0, "\(mode): \(r.err)")
            #expect(mode == "redirect" || r.err.contains("retrying"), "\(mode): \(r.err)")
        }
        // Interrupted blob downloads continue where they stopped (HTTP Range), not from zero.
        let log = (try? String(contentsOfFile: RegistryFixture.ports["WORK"]! + "/proxy.log", encoding: .utf8)) ?? ""
        #expect(
            log.split(separator: "\n").contains { $0.contains("/f/reset-") && $0.contains("/blobs/") && $0.hasSuffix("bytes=514985-") },
            "\(log.suffix(600))")
        let hashes = Set(
            ["reset", "e500", "e429", "redirect"].map { Tools.run(["sha256sum", scratch.sub("\($0).gvmi")]).output.prefix(64) })
        #expect(hashes.count == 1)
    }

    @Test func wrongOrTruncatedBlobsFailAndLeaveNothingInTheCache() throws {
        let scratch = Scratch()
        let proxy = RegistryFixture.registry("PROXY")
        for mode in ["wrong", "truncate", "html"] {
            let cache = scratch.sub("cache-\(mode)")
            let r = GVMCBinary.run([
                "convert", "\(proxy)/f/\(mode)-\(UUID().uuidString.prefix(8).lowercased())/test/multi:v1", "-o",
                scratch.sub("\(mode).gvmi"),
                "--cache-dir", cache
            ])
            #expect(r.status == 1, "\(mode) must fail")
            let expected = [
                "wrong": "whose digest is sha256:", "truncate": "after 5 attempts",
                "html": "the registry sent a malformed manifest (not JSON; 53 bytes: \"<html> <body>Please log in"
            ][mode]!
            #expect(r.err.contains(expected), "\(r.err)")
            #expect(RegistryFixture.blobs(cache).isEmpty, "no blob, not even a partial one: \(RegistryFixture.blobs(cache))")
            #expect(!FileManager.default.fileExists(atPath: scratch.sub("\(mode).gvmi")))
        }
    }

    @Test func warmCacheDownloadsNoBlob() throws {
        let scratch = Scratch()
        let nonce = UUID().uuidString.prefix(8).lowercased()
        let ref = RegistryFixture.registry("PROXY") + "/f/ok-\(nonce)/test/multi:v1"
        for i in 0..<2 {
            let r = GVMCBinary.run(["convert", ref, "-o", scratch.sub("\(i).gvmi"), "--cache-dir", scratch.sub("cache")])
            #expect(r.status == 0, "\(r.err)")
        }
        let log = (try? String(contentsOfFile: RegistryFixture.ports["WORK"]! + "/proxy.log", encoding: .utf8)) ?? ""
        let blobGets = log.split(separator: "\n").filter { $0.contains("/f/ok-\(nonce)/") && $0.contains("/blobs/") }
        #expect(blobGets.count == 4, "config + 3 layers fetched once across two runs: \(blobGets)")
    }

    @Test func twoProcessesShareOneCache() throws {
        let scratch = Scratch()
        let ref = RegistryFixture.registry("PLAIN") + "/test/multi:v1"
        let processes = (0..<2).map { i -> Process in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
            p.arguments = ["convert", ref, "-o", scratch.sub("\(i).gvmi"), "--cache-dir", scratch.sub("cache")]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            return p
        }
        for p in processes { try p.run() }
        for p in processes { p.waitUntilExit() }
        #expect(processes.allSatisfy { $0.terminationStatus == 0 })
        let blobs = RegistryFixture.blobs(scratch.sub("cache"))
        #expect(blobs.count == 4 && blobs.allSatisfy { !$0.contains(".partial") }, "\(blobs)")
        for blob in blobs {
            let sum = Tools.run(["sha256sum", scratch.sub("cache/blobs/sha256/" + blob)]).output.prefix(64)
            #expect(String(sum) == blob, "cached blob \(blob) has the content its name promises")
        }
        #expect(Tools.run(["cmp", scratch.sub("0.gvmi"), scratch.sub("1.gvmi")]).status == 0)
    }

    @Test func ctrlCDuringAPullLeavesNothingBehind() throws {
        let scratch = Scratch()
        let p = Process()
        p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
        // Every blob transfer is cut in half: gvmc keeps a partial blob and backs off between retries.
        p.arguments = [
            "convert", RegistryFixture.registry("PROXY") + "/f/truncate-\(UUID().uuidString.prefix(8).lowercased())/test/multi:v1",
            "-o", scratch.sub("out.gvmi"), "--cache-dir", scratch.sub("cache")
        ]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        usleep(1_200_000)
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        #expect(p.terminationStatus == 130)
        #expect(RegistryFixture.blobs(scratch.sub("cache")).isEmpty, "no partial blob: \(RegistryFixture.blobs(scratch.sub("cache")))")
        let left = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0 != "cache" }
        #expect(left.isEmpty, "no output or temporary file: \(left)")
    }
}
