// PackFile against packs git itself writes: every object git lists is found with its type and
// size, and rebuilt to content whose SHA-1 is its id — through long delta chains (OFS_DELTA and
// REF_DELTA), with a cache too small to hold any base, so every base is rebuilt from the file.
import Crypto
import Foundation
import Testing
@testable import GitSource

@Suite struct GitPackTests {
    func sh(_ script: String) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try? p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test(
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/git"), "needs git"),
        arguments: [("ofs", "--delta-base-offset"), ("ref", "")])
    func deltaChainsRebuildWithoutACache(kind: String, flag: String) throws {
        let dir = NSTemporaryDirectory() + "/gitpack-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // 60 versions of a file, each a small edit of the one before: git stores them as a
        // chain of deltas (depth up to 50).
        let setup = sh(
            """
            cd \(dir) && git init -q r && cd r && for i in $(seq 1 60); do
              seq 1 3000 | sed "s/^$i\\$/changed $i/" > f$i.txt; done &&
            git add -A && git -c user.name=t -c user.email=t@e commit -q -m all &&
            git rev-list --objects --all | cut -d' ' -f1 | git pack-objects -q --window=100 --depth=50 \(flag) ../p > ../name
            """)
        try #require(setup.status == 0, "\(setup.output)")
        let packPath = dir + "/p-" + sh("cat \(dir)/name").output.trimmingCharacters(in: .whitespacesAndNewlines) + ".pack"
        let listed = sh("cd \(dir) && git verify-pack -v \(packPath.replacingOccurrences(of: ".pack", with: ".idx"))").output
        // "<id> <type> <size> <size-in-pack> <offset> [<depth> <base>]"
        let rows: [[String]] = listed.split(separator: "\n").map {
            $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        }
        .filter { $0.count >= 5 && $0[0].count == 40 }
        let deepest = rows.compactMap { $0.count >= 7 ? Int($0[5]) : nil }.max() ?? 0
        #expect(rows.count == 62 && deepest >= 3, "a commit, a tree, 60 blobs, delta chains \(deepest) deep")
        let fd = open(packPath, O_RDONLY | O_CLOEXEC)
        try #require(fd >= 0)
        let pack = try PackFile(fd: fd, cacheLimit: 0)
        let types = ["commit": 1, "tree": 2, "blob": 3, "tag": 4]
        for row in rows {
            let id = row[0]
            let info = try #require(pack.info(id), "\(id) missing")
            #expect(info.type == types[row[1]] && info.offset == Int(row[4]), "\(row)")
            // verify-pack gives a delta's own size; the object's is cat-file's.
            #expect(
                info.size
                    == (row.count == 5
                        ? Int(row[2])
                        : Int(sh("cd \(dir)/r && git cat-file -s \(id)").output.trimmingCharacters(in: .whitespacesAndNewlines))),
                "\(row)")
            let object = try #require(try pack.object(id))
            #expect(PackFile.id(type: object.type, object.data) == id)
        }
        // The pack index gvmc writes from it is the one git writes (same CRCs and offsets).
        let written = try GitDirectory(pack: pack, shallow: [], commit: "", tree: "", ref: nil, remote: "", time: 0).packIndex()
        let gits = try Data(contentsOf: URL(fileURLWithPath: packPath.replacingOccurrences(of: ".pack", with: ".idx")))
        #expect(written == Array(gits), "\(kind): the .idx differs from git's")
    }

    /// File names and symlink targets as git stores them, bytes not text: "café" spelt NFC and
    /// NFD are two files (git keeps both), a Latin-1 name and a link to a Latin-1 target stay
    /// Latin-1; the checkout equals `git archive`'s.
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/git"), "needs git"))
    func namesAndTargetsAreKeptAsBytes() throws {
        let dir = NSTemporaryDirectory() + "/gitnames-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/out", withIntermediateDirectories: true)
        let setup = sh(
            """
            cd \(dir) && git init -q r && cd r && printf nfc > "$(printf 'caf\\303\\251')" && printf nfd > "$(printf 'cafe\\314\\201')" &&
            printf latin > "$(printf '\\351t\\351')" && ln -s "$(printf 'l\\351')" link &&
            git add -A && git -c user.name=t -c user.email=t@e commit -q -m names && git rev-parse HEAD^{tree} > ../tree &&
            mkdir ../expected && git archive HEAD | tar -x -C ../expected &&
            git rev-list --objects --all | cut -d' ' -f1 | git pack-objects -q ../p > ../name
            """)
        try #require(setup.status == 0, "\(setup.output)")
        let packPath = dir + "/p-" + sh("cat \(dir)/name").output.trimmingCharacters(in: .whitespacesAndNewlines) + ".pack"
        let pack = try PackFile(fd: open(packPath, O_RDONLY | O_CLOEXEC))
        try GitFetch.write(
            pack, tree: sh("cat \(dir)/tree").output.trimmingCharacters(in: .whitespacesAndNewlines), to: dir + "/out", time: 0)
        #expect(sh("ls \(dir)/out | wc -l").output.trimmingCharacters(in: .whitespaces) == "4\n")
        let diff = sh("diff -r --no-dereference \(dir)/expected \(dir)/out")
        #expect(diff.status == 0, "\(diff.output)")
    }

    @Test func corruptPacksAreRefused() throws {
        let path = NSTemporaryDirectory() + "/bad-" + UUID().uuidString
        defer { unlink(path) }
        func attempt(_ bytes: [UInt8]) -> String {
            _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
            do { _ = try PackFile(fd: open(path, O_RDONLY)); return "accepted" } catch { return "\(error)" }
        }
        #expect(attempt(Array("not a pack at all, no no no no no no".utf8)).contains("not a packfile"))
        var header: [UInt8] = Array("PACK".utf8) + [0, 0, 0, 2, 0, 0, 0, 1] + [0x35] + Array(repeating: 0, count: 30)
        #expect(attempt(header).contains("checksum"))
        // A correct checksum over an object that does not inflate.
        header = Array("PACK".utf8) + [0, 0, 0, 2, 0, 0, 0, 1, 0x35, 0x78, 0x9c] + [UInt8](repeating: 0xff, count: 8)
        #expect(attempt(header + Array(Insecure.SHA1.hash(data: header))).contains("inflate"))
    }
}
