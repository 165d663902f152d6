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
    mutating func build(_ ctx: String, cache: String? = nil, _ flags: [String], env: [String: String] = [:]) throws
        -> (steps: [(id: String, cached: Bool)], err: String, image: String, status: Int32) {
        n += 1
        let image = root + "/image\(n).gvmi"
        let r = GVMCBinary.run(["build", "--progress", "plain", "--cache-dir", cache ?? root + "/cache\(n)", "-o", image] + flags + [ctx],
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
        let layers = String(decoding: manifest, as: UTF8.self).matches(of: /"digest":"sha256:([0-9a-f]{64})","mediaType":"application\/vnd.oci.image.layer/).map { String($0.1) }
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
