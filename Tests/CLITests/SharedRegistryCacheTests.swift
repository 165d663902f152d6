// gvmc build --cache-to/--cache-from type=registry against the real docker-registry (plain,
// basic auth, bearer tokens): two CI runners share one cache; exports accumulate, concurrent
// exports leave a consistent tag; a corrupt or missing blob and refused credentials are warnings
// with a correct image (tests of the serialized BuildCommand suite).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension BuildCommand {
    /// The blob's file in the registry's storage.
    func registryBlob(_ registry: String, _ digest: String) -> String {
        let hex = String(digest.dropFirst("sha256:".count))
        return (RegistryFixture.ports["WORK"] ?? "/nonexistent")
            + "/\(registry)-data/docker/registry/v2/blobs/sha256/\(hex.prefix(2))/\(hex)/data"
    }

    /// The layer digests of the cache manifest under `ref`, in order.
    func cacheLayers(_ ref: String) throws -> [String] {
        let raw = Tools.run(["skopeo", "inspect", "--raw", "--tls-verify=false", "docker://\(ref)"])
        try #require(raw.status == 0, "\(raw.output)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(raw.output.utf8)) as? [String: Any])
        #expect(object["artifactType"] as? String == "application/vnd.gvmc.cache.v1")
        return ((object["layers"] as? [[String: Any]]) ?? []).compactMap { $0["digest"] as? String }
    }

    @Test(.enabled(if: RegistryFixture.available, RegistryFixture.why))
    func registryCacheIsSharedBetweenRunners() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        let ref = RegistryFixture.registry("PLAIN") + "/ci/cache:main"
        let a = try runners.build(try runners.checkout("runner-a"), ["--cache-to", "type=registry,ref=\(ref)"])
        try #require(a.status == 0, "\(a.err)")
        #expect(try cacheLayers(ref).count == Runners.all.count)
        let b = try runners.build(try runners.checkout("runner-b"), ["--cache-from", "type=registry,ref=\(ref)"])
        try #require(b.status == 0, "\(b.err)")
        #expect(b.steps.map(\.id) == Runners.all && b.steps.allSatisfy(\.cached), "\(b.err)")
        #expect(b.err.components(separatedBy: "CACHED (registry \(ref))").count - 1 == Runners.all.count, "\(b.err)")
        #expect(sameBytes(a.image, b.image), "runner B's image is byte-identical to runner A's")

        // A second project (another last input) exported to the same tag: both hit afterwards.
        let other = try runners.checkout("other", b: "other\n")
        let o = try runners.build(other, ["--cache-from", ref, "--cache-to", "type=registry,ref=\(ref),compression=zstd"])
        try #require(o.status == 0, "\(o.err)")
        #expect(o.steps.filter { !$0.cached }.map(\.id) == ["#1.3", "#1.4"], "\(o.steps)")
        for ctx in [try runners.checkout("again-a"), try runners.checkout("again-other", b: "other\n")] {
            let r = try runners.build(ctx, ["--cache-from", ref])
            #expect(r.status == 0 && r.steps.count == Runners.all.count && r.steps.allSatisfy(\.cached), "\(r.err)")
        }
        #expect(try cacheLayers(ref).count == Runners.all.count + 2, "the tag holds both projects' layers")

        // Faults in the registry's storage: a corrupt blob, a deleted blob. Each is a warning,
        // the step runs, and the image is right.
        let layers = try cacheLayers(ref)
        let corrupt = registryBlob("plain", layers[2])
        var bytes = try #require(FileManager.default.contents(atPath: corrupt))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: corrupt))
        try FileManager.default.removeItem(atPath: registryBlob("plain", layers[3]))
        let faulty = try runners.build(try runners.checkout("runner-c"), ["--cache-from", ref])
        try #require(faulty.status == 0, "\(faulty.err)")
        #expect(faulty.err.contains("warning:"), "\(faulty.err)")
        #expect(faulty.steps.filter { !$0.cached }.map(\.id) == ["#1.1", "#1.2"], "\(faulty.steps)")
        #expect(cat(faulty.image, "app/a.txt") == "a\n" && cat(faulty.image, "app/b.txt") == "b1\n")
        // An export from a build that met the damage replaces those records: the next runner
        // finds every step.
        let repaired = try runners.build(try runners.checkout("runner-d"), ["--cache-from", ref, "--cache-to", "type=registry,ref=\(ref)"])
        try #require(repaired.status == 0, "\(repaired.err)")
        let after = try runners.build(try runners.checkout("runner-e"), ["--cache-from", ref])
        #expect(after.status == 0 && after.steps.count == Runners.all.count && after.steps.allSatisfy(\.cached), "\(after.err)")
        // A cache pinned by digest reads that manifest, not the tag (which moves on).
        let pinnedDigest = Tools.run(["skopeo", "inspect", "--tls-verify=false", "--format", "{{.Digest}}", "docker://\(ref)"]).output
            .trimmingCharacters(in: .whitespacesAndNewlines)
        if pinnedDigest.hasPrefix("sha256:") {
            let base = ref.split(separator: ":").dropLast().joined(separator: ":")
            let p = try runners.build(try runners.checkout("runner-f"), ["--cache-from", "\(base)@\(pinnedDigest)"])
            #expect(p.status == 0 && p.steps.allSatisfy(\.cached), "\(p.err)")
        }
    }

    @Test(.enabled(if: RegistryFixture.available, RegistryFixture.why))
    func concurrentExportsKeepTheTagConsistent() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        let ref = RegistryFixture.registry("PLAIN") + "/ci/concurrent:main"
        let contexts = [try runners.checkout("x", b: "x\n"), try runners.checkout("y", b: "y\n"), try runners.checkout("z", b: "z\n")]
        let root = runners.root
        final class Results: @unchecked Sendable {
            let lock = NSLock()
            var items: [(Int32, String)] = []
        }
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: contexts.count) { i in
            let r = GVMCBinary.run([
                "build", "--progress", "plain", "--cache-dir", root + "/cc\(i)", "-o", root + "/cc\(i).gvmi",
                "--cache-to", "type=registry,ref=\(ref)", contexts[i]
            ])
            results.lock.withLock { results.items.append((r.status, r.err)) }
        }
        #expect(results.items.count == contexts.count)
        for (status, err) in results.items { #expect(status == 0, "\(err)") }
        // Every layer the tag names is there (blobs go up before the manifest). A registry has no
        // compare-and-swap, so a writer's records can be replaced by another's written from an
        // older read; the steps all three share are there, and the last writer's steps whole.
        for layer in try cacheLayers(ref) {
            #expect(FileManager.default.fileExists(atPath: registryBlob("plain", layer)), "\(layer) is in the registry")
        }
        var whole = 0
        for (i, ctx) in contexts.enumerated() {
            let r = try runners.build(ctx, ["--cache-from", ref])
            #expect(r.status == 0 && r.steps.prefix(4).allSatisfy(\.cached), "project \(i): \(r.err)")
            if r.steps.allSatisfy(\.cached) { whole += 1 }
        }
        #expect(whole >= 1)
    }

    /// Basic auth and bearer tokens as for pulls; refused credentials are a warning, not a failure.
    @Test(.enabled(if: RegistryFixture.available, RegistryFixture.why))
    func registryCacheWithAuthentication() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        let basic = RegistryFixture.registry("BASIC"), token = RegistryFixture.registry("TOKEN")
        let auth = ["--registry-auth", "\(basic)=gvmc:s3cret"]
        let a = try runners.build(try runners.checkout("a"), auth + ["--cache-to", "type=registry,ref=\(basic)/ci/auth:v1"])
        try #require(a.status == 0, "\(a.err)")
        let b = try runners.build(try runners.checkout("b"), auth + ["--cache-from", "\(basic)/ci/auth:v1"])
        #expect(b.status == 0 && b.steps.allSatisfy(\.cached), "\(b.err)")
        // Without credentials (revoked, or a fork's job): a warning, every step runs.
        let refused = try runners.build(try runners.checkout("c"), ["--cache-from", "\(basic)/ci/auth:v1"])
        try #require(refused.status == 0, "\(refused.err)")
        #expect(refused.err.contains("warning:") && refused.err.contains("requires a username and password"), "\(refused.err)")
        #expect(refused.steps.allSatisfy { !$0.cached } && cat(refused.image, "app/b.txt") == "b1\n")
        // An export refused fails the build, unless ignore-error=true.
        let noPush = try runners.build(try runners.checkout("d"), ["--cache-to", "type=registry,ref=\(basic)/ci/auth:v1"])
        #expect(noPush.status != 0 && noPush.err.contains("--cache-to"), "\(noPush.err)")
        let ignored = try runners.build(
            try runners.checkout("e"), ["--cache-to", "type=registry,ref=\(basic)/ci/auth:v1,ignore-error=true"])
        #expect(ignored.status == 0 && ignored.err.contains("warning: --cache-to"), "\(ignored.err)")
        // Bearer tokens (the token server grants anonymous pull and push).
        let t = try runners.build(try runners.checkout("f"), ["--cache-to", "type=registry,ref=\(token)/ci/token:v1"])
        try #require(t.status == 0, "\(t.err)")
        let u = try runners.build(try runners.checkout("g"), ["--cache-from", "\(token)/ci/token:v1"])
        #expect(u.status == 0 && u.steps.allSatisfy(\.cached), "\(u.err)")
    }
}
