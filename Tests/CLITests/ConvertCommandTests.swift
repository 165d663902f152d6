// `gvmc convert` (and `gvmc build FROM <registry image>`) against real parts: Debian's
// docker-registry on loopback (plain, htpasswd basic auth, and bearer tokens from a token server
// of our own), images written by oci_fixtures.py and pushed with skopeo, a fault-injecting proxy,
// and `umoci unpack` as the reference flattening. Images are read back with unsquashfs and the
// kernel's squashfs driver.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: RegistryFixture.available, RegistryFixture.why))
struct ConvertCommand {
    @Test func multiLayerImageEqualsUmociUnpackThroughUnsquashfsAndTheKernel() throws {
        let scratch = Scratch()
        let out = scratch.sub("multi.gvmi")
        let r = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/multi:v1", "-o", out,
            "--cache-dir", scratch.sub("cache"), "--extra-json-info-path", scratch.sub("info.json")
        ])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix(out + "  size "), "prints path, size and sha3-224: \(r.out)")
        #expect(r.err.contains("[GVM001]"), "the Entrypoint is reported as ignored by Golem: \(r.err)")
        let expected = RegistryFixture.umociTree("multi", scratch: scratch)
        try RegistryFixture.expectTree(out, equals: expected, scratch: scratch)
        if Tools.canLoopMount { try RegistryFixture.expectTree(out, equals: expected, scratch: scratch, kernel: true) }
        // Spot checks a user would make: whiteouts, opaque dir, replacement, hardlink across layers.
        let tree = try TreeSnapshot.take(expected)
        #expect(tree["/gone"] == nil && tree["/opq/a"] == nil && tree["/opq/c"] != nil)
        #expect(tree["/replaced"]?.type == "dir" && tree["/todir"]?.type == "file")
        #expect(tree["/usr/lib/through-symlink.so"] != nil)
        let config = try RegistryFixture.config(out)
        #expect(config["Env"] as? [String] == ["PATH=/bin"])
        #expect(config["WorkingDir"] as? String == "/golem")
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"])
        #expect(config["Entrypoint"] as? [String] == ["/bin/sh"])
        #expect((config["Labels"] as? [String: String])?["org.example"] == "gvmc")
        let info = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: scratch.sub("info.json")))) as? [String: Any])
        #expect(
            (info["source_digest"] as? String)?.hasPrefix("sha256:") == true && (info["image_id"] as? String)?.hasPrefix("sha256:") == true)
    }

    /// BuildKit's plain output: the pull as one vertex with a status per downloaded layer (size,
    /// time), the image write with its hashes; --metadata-file agrees with `gvmc inspect`.
    @Test func progressShowsEachLayerAndTheMetadataFileMatchesTheImage() throws {
        let scratch = Scratch()
        let out = scratch.sub("p.gvmi"), meta = scratch.sub("meta.json")
        let r = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/multi:v1", "-o", out, "--cache-dir", scratch.sub("cache"),
            "--progress", "plain", "--metadata-file", meta
        ])
        try #require(r.status == 0, "\(r.err)")
        let lines = r.err.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("#1 [internal] load metadata and layers for ") }, "\(r.err)")
        let layerLines = lines.filter { $0.wholeMatch(of: /#1 sha256:[0-9a-f]{12} [0-9.]+[kMG]?B \/ [0-9.]+[kMG]?B [0-9.]+s done/) != nil }
        #expect(layerLines.count == 3, "one status per layer of the three: \(r.err)")
        #expect(lines.contains("#2 writing image \(out)") && lines.contains { $0.hasPrefix("#2 sha3-224 ") && $0.hasSuffix(" done") })
        #expect(lines.contains { $0.hasPrefix("converted \(out) in ") }, "\(r.err)")
        let inspect = GVMCBinary.run(["inspect", "--json", out])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        let metadata = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: meta))) as? [String: Any])
        let image = try #require(metadata["image"] as? [String: Any])
        #expect(image["sha3_224"] as? String == doc["sha3_224"] as? String && image["path"] as? String == out)
        #expect((metadata["config"] as? [String: Any])?["WorkingDir"] as? String == "/golem")
        #expect(((metadata["source"] as? [String: Any])?["manifest_digest"] as? String)?.hasPrefix("sha256:") == true)
        // quiet: warnings and the result only.
        let quiet = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/multi:v1", "-o", scratch.sub("q.gvmi"),
            "--cache-dir", scratch.sub("cache"), "--progress", "quiet"
        ])
        #expect(quiet.status == 0 && !quiet.err.contains("#1") && quiet.err.contains("[GVM001]"), "\(quiet.err)")
    }

    /// The live view on a terminal: a download in progress is drawn with its size, a bar, its
    /// rate and the time left, cut to the terminal's width; rawjson emits it as statuses with
    /// current and total that end at each layer's size.
    @Test(.enabled(if: Tools.exists("script"), "needs script (bsdutils) for a pseudo-terminal"))
    func downloadsShowSizeRateAndTimeLeft() throws {
        let scratch = Scratch()
        let nonce = UUID().uuidString.prefix(8).lowercased()
        let ref = RegistryFixture.registry("PROXY") + "/f/slow-\(nonce)/test/multi:v1"
        let (status, screen, drawn) = PseudoTerminal.run(
            ["convert", ref, "-o", scratch.sub("t.gvmi"), "--cache-dir", scratch.sub("c1"), "--progress", "tty"],
            columns: 70, typescript: scratch.sub("typescript"))
        try #require(status == 0, "\(screen)")
        let transfers = drawn.filter { $0.hasPrefix(" => => sha256:") && $0.contains("B/s") }
        #expect(!transfers.isEmpty, "a download was drawn while it ran: \(screen)")
        #expect(transfers.contains { $0.contains("B / 1.03MB ") && $0.contains("s left") }, "\(transfers)")
        let view = drawn.filter { $0.hasPrefix(" => ") }
        #expect(!view.isEmpty && view.allSatisfy { $0.count <= 70 }, "every line fits the 70 columns: \(view.filter { $0.count > 70 })")
        #expect(screen.contains("FINISHED"))
        // rawjson: each layer's statuses grow to its size.
        let json = GVMCBinary.run([
            "convert", RegistryFixture.registry("PROXY") + "/f/slow-\(nonce)x/test/multi:v1", "-o", scratch.sub("j.gvmi"),
            "--cache-dir", scratch.sub("c2"), "--progress", "rawjson"
        ])
        try #require(json.status == 0, "\(json.err)")
        var last: [String: (Int, Int)] = [:]
        for line in json.err.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for status in (object["statuses"] as? [[String: Any]]) ?? [] {
                if let id = status["id"] as? String, let c = status["current"] as? Int, let t = status["total"] as? Int {
                    last[id] = (c, t)
                }
            }
        }
        #expect(last.count >= 4 && last.values.allSatisfy { $0.0 == $0.1 }, "\(last)")
        #expect((last["squashfs"]?.1 ?? 0) > 1_000_000, "the image write's progress counts the tree's file bytes: \(last)")
    }

    @Test func sameImageFromEveryTransportGivesTheSameBytes() throws {
        let scratch = Scratch()
        var hashes: Set<String> = []
        // A `docker save` style tarball of the same image, written by skopeo.
        let save = Tools.run([
            "skopeo", "copy", "-q", "oci:\(RegistryFixture.layout):multi", "docker-archive:\(scratch.sub("saved.tar")):test/multi:v1"
        ])
        #expect(save.status == 0, "\(save.output)")
        let sources = [
            RegistryFixture.registry("PLAIN") + "/test/multi:v1", RegistryFixture.registry("PLAIN") + "/test/schema2:v1",
            "oci-layout://" + RegistryFixture.layout + ":multi", RegistryFixture.registry("TOKEN") + "/test/multi:v1",
            "docker-archive://" + scratch.sub("saved.tar"), "docker-archive:" + scratch.sub("saved.tar") + ":test/multi:v1"
        ]
        for (i, source) in sources.enumerated() {
            let r = GVMCBinary.run(["convert", source, "-o", scratch.sub("\(i).gvmi"), "--cache-dir", scratch.sub("cache-\(i)")])
            #expect(r.status == 0, "\(source): \(r.err)")
            if let hash = r.out.split(separator: " ").last { hashes.insert(String(hash)) }
        }
        #expect(hashes.count == 1, "Docker schema 2, OCI, a layout, a token-auth registry and docker save give one image: \(hashes)")
        let wrongTag = GVMCBinary.run([
            "convert", "docker-archive:" + scratch.sub("saved.tar") + ":nope", "-o", scratch.sub("x.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(wrongTag.status == 1 && wrongTag.err.contains("no image tagged nope (tags: docker.io/test/multi:v1)"), "\(wrongTag.err)")
    }

    @Test func defaultOutputNameFollowsGvmkitBuild() throws {
        let scratch = Scratch()
        let r = GVMCBinary.run(
            ["convert", RegistryFixture.registry("PLAIN") + "/test/zstd:v1", "--cache-dir", scratch.sub("cache")], cwd: scratch.path)
        #expect(r.status == 0, "\(r.err)")
        let files = try FileManager.default.contentsOfDirectory(atPath: scratch.path).filter { $0.hasSuffix(".gvmi") }
        #expect(files.count == 1 && files[0].hasPrefix("zstd-v1-") && files[0].count == "zstd-v1-".count + 10 + 5, "\(files)")
        // The zstd layer's file made it in.
        let cat = Tools.run(["unsquashfs", "-cat", scratch.sub(files.first ?? "x"), "zst/hello"])
        #expect(cat.output.hasPrefix("from a zstd layer\n") && cat.output.count == 18000)
    }

    @Test func multiArchIndexSelectsThePlatform() throws {
        let scratch = Scratch()
        let ref = RegistryFixture.registry("PLAIN") + "/test/multiarch:v1"
        let amd = GVMCBinary.run(["convert", ref, "-o", scratch.sub("amd.gvmi"), "--cache-dir", scratch.sub("c")])
        #expect(amd.status == 0, "\(amd.err)")
        #expect(Tools.run(["unsquashfs", "-cat", scratch.sub("amd.gvmi"), "arch"]).output == "amd64\n")
        let arm = GVMCBinary.run([
            "convert", ref, "--platform", "linux/arm64", "-o", scratch.sub("arm.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(arm.status == 0, "\(arm.err)")
        #expect(Tools.run(["unsquashfs", "-cat", scratch.sub("arm.gvmi"), "arch"]).output == "arm64\n")
        #expect(arm.err.contains("linux/arm64; Golem providers run linux/amd64 VMs"))
        let none = GVMCBinary.run([
            "convert", ref, "--platform", "linux/s390x", "-o", scratch.sub("x.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(none.status == 1 && none.err.contains("no image for platform linux/s390x") && none.err.contains("linux/amd64, linux/arm64"))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("x.gvmi")))
    }

    @Test func foreignLayersAreSkippedWithAWarning() throws {
        let scratch = Scratch()
        let out = scratch.sub("f.gvmi")
        let r = GVMCBinary.run([
            "convert", "oci-layout://" + RegistryFixture.layout + ":foreign", "-o", out, "--cache-dir", scratch.sub("c")
        ])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.contains("skipping foreign (non-distributable) layer sha256:"), "\(r.err)")
        let list = Tools.run(["unsquashfs", "-lls", out]).output
        #expect(list.contains("squashfs-root/bin/busybox") && !list.contains("foreign-file"), "\(list)")
    }

    @Test func userIsResolvedToNumericIdsOrDropped() throws {
        let scratch = Scratch()
        let ok = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/user:v1", "-o", scratch.sub("u.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(ok.status == 0, "\(ok.err)")
        #expect(try RegistryFixture.config(scratch.sub("u.gvmi"))["User"] as? String == "1000:1001")
        let bad = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/baduser:v1", "-o", scratch.sub("b.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(bad.status == 1 && bad.err.contains("USER nobody-here") && bad.err.contains("--user-policy drop"), "\(bad.err)")
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("b.gvmi")))
        let dropped = GVMCBinary.run([
            "convert", RegistryFixture.registry("PLAIN") + "/test/baduser:v1", "--user-policy", "drop",
            "-o", scratch.sub("d.gvmi"), "--cache-dir", scratch.sub("c")
        ])
        #expect(dropped.status == 0, "\(dropped.err)")
        let droppedConfig = try RegistryFixture.config(scratch.sub("d.gvmi"))
        #expect(droppedConfig["User"] == nil)
    }
}
