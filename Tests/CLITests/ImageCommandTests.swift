// pack, inspect and parse from the command line.
import Foundation
import Testing

@Suite(.serialized) struct ImageCommands {
    @Test func packPrintsPathSizeAndHashAndInspectAgrees() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root/etc", withIntermediateDirectories: true)
        write(dir + "/root/etc/hostname", "golem\n")
        let pack = GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/out.gvmi", "--volume", "/golem/output",
                                   "--env", "A=1", "--user", "1000:1000", "--entrypoint", "[\"/bin/sh\",\"-c\",\"x\"]"],
                                  env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(pack.status == 0, "\(pack.err)")
        let fields = pack.out.split(separator: " ", omittingEmptySubsequences: true)
        #expect(fields.first.map(String.init) == dir + "/out.gvmi")
        let size = try FileManager.default.attributesOfItem(atPath: dir + "/out.gvmi")[.size] as! Int
        #expect(pack.out.contains("size \(size) bytes") && pack.out.contains("sha3-224 "))
        let inspect = GVMCBinary.run(["inspect", "--json", dir + "/out.gvmi"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        #expect(pack.out.contains(doc["sha3_224"] as! String))
        let config = try #require(doc["config"] as? [String: Any])
        #expect(config["User"] as? String == "1000:1000")
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"])
        #expect(config["Env"] as? [String] == ["A=1"])
        let info = GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/two.gvmi", "--extra-json-info-path", dir + "/info.json"],
                                  env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(info.status == 0)
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/info.json"))) as? [String: Any])
        #expect(summary["path"] as? String == dir + "/two.gvmi" && summary["compression"] as? String == "gzip")
        #expect((summary["sha3_224"] as? String)?.count == 56 && (summary["sha256"] as? String)?.count == 64)
        #expect(summary["size"] as? Int == (try FileManager.default.attributesOfItem(atPath: dir + "/two.gvmi")[.size] as? Int))
        let list = GVMCBinary.run(["inspect", "--list", dir + "/out.gvmi"])
        #expect(list.out.contains("-rw-r--r-- 0/0 6 1700000000 /etc/hostname"))
    }

    @Test func badArgumentsAndCorruptImagesFailClearly() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        #expect(GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/o.gvmi", "--user", "app"]).status == 2)
        #expect(GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/o.gvmi", "--block-size", "1000"]).status == 2)
        #expect(GVMCBinary.run(["pack", dir + "/missing", "-o", dir + "/o.gvmi"]).status != 0)
        #expect(!FileManager.default.fileExists(atPath: dir + "/o.gvmi"))
        write(dir + "/junk.gvmi", String(repeating: "x", count: 5000))
        let r = GVMCBinary.run(["inspect", dir + "/junk.gvmi"])
        #expect(r.status == 1 && r.err.contains("junk.gvmi") && r.err.contains("8 decimal digits"))
    }

    @Test func parseJsonErrorDocumentExitsOne() {
        let r = GVMCBinary.run(["parse", "--format", "json", "-"], stdin: "FROM a\nENV ONLYKEY\n")
        #expect(r.status == 1)
        #expect(r.out == "{\"error\": \"<stdin>:2:5: ENV must have two arguments\"}\n")
    }
}
