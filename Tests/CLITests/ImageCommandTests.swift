// pack, inspect and parse from the command line.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct ImageCommands {
    @Test func packPrintsPathSizeAndHashAndInspectAgrees() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root/etc", withIntermediateDirectories: true)
        write(dir + "/root/etc/hostname", "golem\n")
        let pack = GVMCBinary.run(
            [
                "pack", dir + "/root", "-o", dir + "/out.gvmi", "--volume", "/golem/output",
                "--env", "A=1", "--user", "1000:1000", "--entrypoint", "[\"/bin/sh\",\"-c\",\"x\"]"
            ],
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
        let info = GVMCBinary.run(
            ["pack", dir + "/root", "-o", dir + "/two.gvmi", "--extra-json-info-path", dir + "/info.json"],
            env: ["SOURCE_DATE_EPOCH": "1700000000"])
        #expect(info.status == 0)
        let summary = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/info.json"))) as? [String: Any])
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

    @Test func inspectAndLintRefuseAFifoAtOnceInsteadOfBlocking() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(mkfifo(dir + "/image.gvmi", 0o644) == 0)
        // timeout(1) stands in for the user's patience: on a hang it exits 124.
        for args in [["inspect"], ["inspect", "--list"], ["lint", "--image"]] {
            let start = Date()
            let r = runWithTimeout(20, args + [dir + "/image.gvmi"])
            #expect(r.status != 124 && Date().timeIntervalSince(start) < 10, "gvmc \(args) waited on the FIFO")
            #expect(r.status != 0 && r.err.contains("is a FIFO, not a regular file"), "\(r.err)")
        }
    }

    @Test func inspectListEscapesNamesSoTheyCannotForgeLinesOrReachTheTerminal() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        let names: [[UInt8]] = [
            Array("x\n-rwsr-xr-x 0 0 0 forged-su".utf8),  // a newline forging a setuid entry
            Array("\u{1B}]0;owned\u{07}\u{1B}[2J".utf8),  // terminal title and clear screen
            Array("latin1-".utf8) + [0xE9, 0xFF],  // not UTF-8
            Array("back\\slash \u{202E}txt.exe ünï".utf8)  // backslash, right-to-left override
        ]
        for name in names {
            let fd = (Array((dir + "/root/").utf8) + name + [0]).withUnsafeBufferPointer {
                open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_CREAT | O_WRONLY, 0o644)
            }
            #expect(fd >= 0)
            close(fd)
        }
        #expect(GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/out.gvmi"], env: ["SOURCE_DATE_EPOCH": "1700000000"]).status == 0)
        let r = GVMCBinary.run(["inspect", "--list", dir + "/out.gvmi"])
        #expect(r.status == 0, "\(r.err)")
        let listing = r.out.split(separator: "\n").filter { $0.hasPrefix("d") || $0.hasPrefix("-") }
        #expect(listing.count == 5, "one line per entry (root and four files):\n\(r.out)")
        #expect(!r.out.contains("\u{1B}") && !r.out.contains("\u{07}") && !r.out.contains("\u{202E}"))
        #expect(!listing.contains { $0.hasPrefix("-rwsr") })
        #expect(r.out.contains(#"/x\n-rwsr-xr-x 0 0 0 forged-su"#))
        #expect(r.out.contains(#"/\033]0;owned\a\033[2J"#))
        #expect(r.out.contains(#"/latin1-\351\377"#))
        #expect(r.out.contains(#"/back\\slash \342\200\256txt.exe ünï"#))
    }

    @Test func parseJsonErrorDocumentExitsOne() {
        let r = GVMCBinary.run(["parse", "--format", "json", "-"], stdin: "FROM a\nENV ONLYKEY\n")
        #expect(r.status == 1)
        #expect(r.out == "{\"error\": \"<stdin>:2:5: ENV must have two arguments\"}\n")
    }
}

/// Runs gvmc under timeout(1): status 124 means it was still running after `seconds`.
private func runWithTimeout(_ seconds: Int, _ args: [String]) -> (status: Int32, err: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/timeout")
    p.arguments = [String(seconds), GVMCBinary.path] + args
    let err = Pipe()
    p.standardError = err
    p.standardOutput = FileHandle.nullDevice
    do { try p.run() } catch { return (-1, "\(error)") }
    let e = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: e, as: UTF8.self))
}

extension ImageCommands {
    @Test func packKeepsCompressedBlocksThatPruneRemoves() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        write(dir + "/root/big", String(repeating: "a block store test line\n", count: 50_000))
        let env = ["SOURCE_DATE_EPOCH": "1700000000"]
        let first = GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/1.gvmi", "--cache-dir", dir + "/cache"], env: env)
        #expect(first.status == 0, "\(first.err)")
        let blocks = (try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/blocks")) ?? []
        #expect(blocks.count >= 2, "\(blocks)")  // equal blocks of the repeated text are one entry
        let second = GVMCBinary.run(["pack", dir + "/root", "-o", dir + "/2.gvmi", "--cache-dir", dir + "/cache"], env: env)
        let none = GVMCBinary.run(
            ["pack", dir + "/root", "-o", dir + "/3.gvmi", "--no-block-store", "--cache-dir", dir + "/empty-cache"], env: env)
        #expect(second.status == 0 && none.status == 0)
        #expect(FileManager.default.contentsEqual(atPath: dir + "/1.gvmi", andPath: dir + "/2.gvmi"))
        #expect(FileManager.default.contentsEqual(atPath: dir + "/1.gvmi", andPath: dir + "/3.gvmi"))
        #expect(!FileManager.default.fileExists(atPath: dir + "/empty-cache/blocks"))
        // One record of the hashes per image written (for a later push), collected with the blocks.
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/hashes")) ?? []).count == 2)
        let dry = GVMCBinary.run(["prune", "--cache-dir", dir + "/cache", "--keep-storage", "0", "--dry-run"])
        #expect(dry.status == 0 && dry.out.contains("would remove blocks/"), "\(dry.out)")
        let prune = GVMCBinary.run(["prune", "--cache-dir", dir + "/cache", "--keep-storage", "0"])
        #expect(prune.status == 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/blocks")) ?? []).isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir + "/cache/hashes")) ?? []).isEmpty)
    }

    /// Without root, prune removes trees whose directories are read-only or closed (an image's
    /// 0555 `/` or `/boot` unpacked by an unprivileged build). gvmc does it inside its user
    /// namespace here; on a host without one, TreeCopy.remove opens the user's own directories.
    @Test(.enabled(if: getuid() == 0 && Tools.exists("runuser"), "needs root to run gvmc as nobody (runuser)"))
    func pruneWithoutRootRemovesReadOnlyDirectories() throws {
        let dir = tempDirectory()
        defer { _ = Tools.run(["rm", "-rf", dir]) }
        chmod(dir, 0o755)
        let tree = dir + "/cache/rootfs/" + String(repeating: "ab", count: 32)
        try FileManager.default.createDirectory(atPath: tree + "/boot/closed", withIntermediateDirectories: true)
        write(tree + "/boot/closed/file", "x\n")
        write(tree + "/boot/file", "y\n")
        #expect(Tools.run(["chown", "-R", "nobody:nogroup", dir + "/cache"]).status == 0)
        chmod(dir + "/cache", 0o700)
        chmod(tree + "/boot/closed", 0o000)
        chmod(tree + "/boot", 0o555)
        chmod(tree, 0o555)
        let r = Tools.run(["runuser", "-u", "nobody", "--", GVMCBinary.path, "prune", "--all", "--cache-dir", dir + "/cache"])
        #expect(r.status == 0, "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: tree), "left: \(Tools.run(["find", dir + "/cache/rootfs"]).output)")
    }
}
