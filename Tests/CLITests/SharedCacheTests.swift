// gvmc build --cache-to/--cache-from: two cache directories standing for two CI runners share
// one step cache (tests of the serialized BuildCommand suite). The local form (an OCI layout
// directory) here; the registry form against the real registry in SharedRegistryCacheTests.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Two runners: their own cache directories, the same project checked out at different paths.
struct Runners {
    static let dockerfile = """
        \(BuildFixture.toolsStage)
        FROM tools
        COPY a.txt /app/
        RUN cat /proc/sys/kernel/random/uuid > /app/a-stamp
        COPY b.txt /app/
        RUN cat /proc/sys/kernel/random/uuid > /app/b-stamp && mkdir -p /gone && rm -rf /gone /bin/vi
        """
    let root = tempDirectory()
    var n = 0

    /// A checkout of the project at a path of its own.
    func checkout(_ name: String, b: String = "b1\n") throws -> String {
        let ctx = try BuildFixture.context(Self.dockerfile, files: ["a.txt": "a\n", "b.txt": b])
        let moved = root + "/" + name
        try FileManager.default.moveItem(atPath: ctx, toPath: moved)
        return moved
    }

    /// A build with a fresh cache directory (a new CI runner) unless `cache` names one.
    mutating func build(
        _ ctx: String, cache: String? = nil, _ flags: [String], env: [String: String] = [:]
    ) throws
        -> (steps: [(id: String, cached: Bool)], err: String, image: String, status: Int32)
    {
        n += 1
        let image = root + "/image\(n).gvmi"
        let r = GVMCBinary.run(
            ["build", "--progress", "plain", "--cache-dir", cache ?? root + "/cache\(n)", "-o", image] + flags + [ctx],
            env: ["SOURCE_DATE_EPOCH": "1700000000"].merging(env) { $1 })
        return (builtSteps(r.err), r.err, image, r.status)
    }

    static let all = ["#0.1", "#0.2", "#1.1", "#1.2", "#1.3", "#1.4"]
}

func sameBytes(_ a: String, _ b: String) -> Bool { FileManager.default.contentsEqual(atPath: a, andPath: b) }
func cat(_ image: String, _ path: String) -> String { Tools.run(["unsquashfs", "-cat", image, path]).output }

extension BuildCommand {
    @Test func localCacheIsSharedBetweenRunners() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        let layout = runners.root + "/ci-cache"
        let a = try runners.build(try runners.checkout("runner-a"), ["--cache-to", "type=local,dest=\(layout)"])
        try #require(a.status == 0, "\(a.err)")
        #expect(a.steps.map(\.id) == Runners.all && a.steps.allSatisfy { !$0.cached })
        #expect(a.err.contains("exporting cache to local \(layout):latest"), "\(a.err)")
        // A valid OCI layout that umoci and skopeo read.
        #expect(Tools.run(["umoci", "ls", "--layout", layout]).output.split(separator: "\n").contains("latest"))
        let raw = Tools.run(["skopeo", "inspect", "--raw", "oci:\(layout):latest"])
        #expect(raw.status == 0 && raw.output.contains("application/vnd.gvmc.cache.v1"), "\(raw.output)")

        // Runner B: another path, an empty cache directory; every step comes from the shared cache.
        let ctxB = try runners.checkout("runner-b")
        let b = try runners.build(ctxB, ["--cache-from", "type=local,src=\(layout)"])
        try #require(b.status == 0, "\(b.err)")
        #expect(b.steps.map(\.id) == Runners.all && b.steps.allSatisfy(\.cached), "\(b.err)")
        #expect(b.err.components(separatedBy: "CACHED (local \(layout):latest)").count - 1 == Runners.all.count)
        #expect(sameBytes(a.image, b.image), "runner B's image is byte-identical to runner A's")

        // After editing a middle input, the steps before it come from the cache, the rest run.
        write(ctxB + "/b.txt", "b2\n")
        let edited = try runners.build(ctxB, ["--cache-from", "type=local,src=\(layout)"])
        try #require(edited.status == 0, "\(edited.err)")
        #expect(edited.steps.filter(\.cached).map(\.id) == ["#0.1", "#0.2", "#1.1", "#1.2"], "\(edited.steps)")
        #expect(cat(edited.image, "app/a-stamp") == cat(a.image, "app/a-stamp"))
        #expect(cat(edited.image, "app/b-stamp") != cat(a.image, "app/b-stamp"))
        #expect(cat(edited.image, "app/b.txt") == "b2\n")

        // A corrupted layer is a warning, the step runs, and the image is right.
        let index = try #require(FileManager.default.contents(atPath: layout + "/index.json"))
        let manifestDigest = try #require(String(decoding: index, as: UTF8.self).firstMatch(of: /sha256:([0-9a-f]{64})/)?.1)
        let manifest = try #require(FileManager.default.contents(atPath: layout + "/blobs/sha256/" + manifestDigest))
        let layers = String(decoding: manifest, as: UTF8.self).matches(
            of: /"digest":"sha256:([0-9a-f]{64})","mediaType":"application\/vnd.oci.image.layer/
        ).map { String($0.1) }
        try #require(layers.count == Runners.all.count, "\(String(decoding: manifest, as: UTF8.self))")
        let third = layout + "/blobs/sha256/" + layers[2]
        var bytes = try #require(FileManager.default.contents(atPath: third))
        bytes[bytes.count / 2] ^= 0xFF
        try bytes.write(to: URL(fileURLWithPath: third))
        let corrupt = try runners.build(try runners.checkout("runner-c"), ["--cache-from", "type=local,src=\(layout)"])
        try #require(corrupt.status == 0, "\(corrupt.err)")
        #expect(corrupt.err.contains("does not match its digest"), "\(corrupt.err)")
        // Only that step runs: the keys after it do not depend on how its result was made.
        #expect(corrupt.steps.filter { !$0.cached }.map(\.id) == ["#1.1"], "\(corrupt.steps)")
        #expect(cat(corrupt.image, "app/a.txt") == "a\n" && cat(corrupt.image, "app/b.txt") == "b1\n")
        // A cache that is not there at all: a warning-free miss, every step runs.
        let missing = try runners.build(try runners.checkout("runner-d"), ["--cache-from", "type=local,src=\(runners.root)/nothing"])
        #expect(missing.status == 0 && missing.steps.allSatisfy { !$0.cached }, "\(missing.err)")
    }

    /// Step keys hold nothing of the machine: checkouts at different paths, with different cache
    /// directories, give the same keys (the metadata file lists them).
    @Test func stepKeysAreTheSameOnEveryMachine() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        func keys(_ name: String) throws -> [String] {
            let meta = runners.root + "/\(name).json"
            let r = try runners.build(try runners.checkout(name), ["--metadata-file", meta])
            try #require(r.status == 0, "\(r.err)")
            let object = try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: meta))) as? [String: Any]
            return ((object?["steps"] as? [[String: Any]]) ?? []).compactMap { $0["key"] as? String }
        }
        let first = try keys("checkout-one"), second = try keys("deeper-path-two")
        #expect(first.count == Runners.all.count && first == second, "\(first) vs \(second)")
    }
}

extension BuildCommand {
    /// Faults of a shared cache that degrade, each with a warning: a layer that fails in the first
    /// `--cache-from` is taken from the next; a damaged index under the export's tag is replaced by
    /// a new one; a layer with a file name that is not UTF-8 is not exported (the build succeeds).
    @Test func sharedCacheFaultsDegrade() throws {
        var runners = Runners()
        defer { try? FileManager.default.removeItem(atPath: runners.root) }
        let first = runners.root + "/first", second = runners.root + "/second"
        for layout in [first, second] {
            let r = try runners.build(
                try runners.checkout("export-\((layout as NSString).lastPathComponent)"), ["--cache-to", "type=local,dest=\(layout)"])
            try #require(r.status == 0, "\(r.err)")
        }
        // Every layer of the first cache damaged: each step comes from the second.
        for blob in (try FileManager.default.contentsOfDirectory(atPath: first + "/blobs/sha256")) {
            let path = first + "/blobs/sha256/" + blob
            guard var bytes = FileManager.default.contents(atPath: path), bytes.count > 2000 else { continue }
            bytes[bytes.count / 2] ^= 0xFF
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        let both = try runners.build(
            try runners.checkout("both"), ["--cache-from", "type=local,src=\(first)", "--cache-from", "type=local,src=\(second)"])
        try #require(both.status == 0, "\(both.err)")
        #expect(both.steps.count == Runners.all.count && both.steps.allSatisfy(\.cached), "\(both.err)")
        #expect(both.err.contains("asking the next cache") && both.err.contains("CACHED (local \(second):latest)"), "\(both.err)")

        // A damaged index (the config blob the manifest names): the export warns and starts anew.
        let manifest = try #require(
            try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: second + "/index.json"))) as? [String: Any])
        let manifestDigest = try #require(((manifest["manifests"] as? [[String: Any]])?.first?["digest"] as? String)?.dropFirst(7))
        let doc = try #require(
            try JSONSerialization.jsonObject(with: try Data(contentsOf: URL(fileURLWithPath: second + "/blobs/sha256/" + manifestDigest)))
                as? [String: Any])
        let configDigest = try #require(((doc["config"] as? [String: Any])?["digest"] as? String)?.dropFirst(7))
        try Data("{\"records\": 5}".utf8).write(to: URL(fileURLWithPath: second + "/blobs/sha256/" + configDigest))
        let restarted = try runners.build(try runners.checkout("restart"), ["--cache-to", "type=local,dest=\(second)"])
        try #require(restarted.status == 0, "\(restarted.err)")
        #expect(restarted.err.contains("the export starts a new index"), "\(restarted.err)")
        let after = try runners.build(try runners.checkout("after"), ["--cache-from", "type=local,src=\(second)"])
        #expect(after.status == 0 && after.steps.allSatisfy(\.cached), "\(after.err)")

        // A file name that is not UTF-8: that layer is skipped with a warning, the others go out.
        let odd = try BuildFixture.context(
            """
            \(BuildFixture.toolsStage)
            FROM tools
            RUN touch "/odd-$(printf '\\377')" && echo ok > /ok
            RUN echo after > /after
            """)
        defer { try? FileManager.default.removeItem(atPath: odd) }
        let skipped = try runners.build(odd, ["--cache-to", "type=local,dest=\(runners.root)/odd"])
        try #require(skipped.status == 0, "\(skipped.err)")
        #expect(skipped.err.contains("is not exported") && skipped.err.contains("not UTF-8"), "\(skipped.err)")
        let reuse = try runners.build(odd, ["--cache-from", "type=local,src=\(runners.root)/odd"])
        #expect(
            reuse.status == 0 && reuse.steps.filter { !$0.cached }.map(\.id) == ["#1.1"],
            "only the step with the odd name runs: \(reuse.err)")
    }
}
