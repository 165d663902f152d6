// COPY/ADD --chmod against the real chmod(1): every mode, octal or symbolic, on files and
// directories of several starting modes, gives the permission bits chmod gives. chmod runs with
// umask 0, since a --chmod without u/g/o/a means all of them whatever the build's umask.
import Foundation
import Executor
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite struct ModeChanges {
    static let fileModes: [UInt32] = [0o644, 0o755, 0o600, 0o700, 0o640, 0o711, 0o070, 0o000, 0o777]
    static let directoryModes: [UInt32] = [0o755, 0o700, 0o750, 0o711, 0o000, 0o777]

    /// Entries named `f<mode>` and `d<mode>` in a scratch directory with their starting modes.
    static func entries(in dir: String) throws -> [(path: String, mode: UInt32, isDirectory: Bool)] {
        var out: [(String, UInt32, Bool)] = []
        for mode in fileModes {
            let path = dir + "/f" + String(mode, radix: 8)
            #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8)))
            out.append((path, mode, false))
        }
        for mode in directoryModes {
            let path = dir + "/d" + String(mode, radix: 8)
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            out.append((path, mode, true))
        }
        for (path, mode, _) in out { #expect(chmod(path, mode_t(mode)) == 0) }
        return out
    }

    @Test(arguments: [
        "755", "0644", "600", "4755", "1777", "0", "u=rwX,go=rX", "+x", "a-w", "go-rwx", "u+x,g-w", "o=", "=r",
        "+X", "a+X", "g=u", "u=rwx,g=rx,o=", "ug+w,o-r", "g+s", "u+s,o+t", "+t", "a=rwX", "u-x,+X", "go+rX,u-w"
    ])
    func symbolicAndOctalModesDoWhatChmodDoes(_ spec: String) throws {
        // "g=u" copies bits in chmod(1); gvmc does not parse it: it must be refused, not misread.
        if spec == "g=u" {
            #expect(throws: ExecutorError.self) { _ = try ModeChange(spec) }
            return
        }
        let change = try ModeChange(spec)
        let scratch = Scratch()
        let entries = try Self.entries(in: scratch.path)
        let r = Tools.run(["sh", "-c", "umask 0; exec chmod \"$0\" \"$@\"", spec] + entries.map(\.path))
        try #require(r.status == 0, "chmod \(spec): \(r.output)")
        for e in entries {
            var st = stat()
            try #require(lstat(e.path, &st) == 0)
            let byChmod = UInt32(st.st_mode & 0o7777)
            let byGvmc = change.apply(to: e.mode, isDirectory: e.isDirectory)
            let comment: Comment =
                "\(spec) on a \(e.isDirectory ? "directory" : "file") \(String(e.mode, radix: 8)): gvmc \(String(byGvmc, radix: 8)), chmod \(String(byChmod, radix: 8))"
            #expect(byGvmc == byChmod, comment)
        }
    }

    @Test func malformedModesAreRefusedWithTheReason() {
        for (spec, reason) in [
            ("8", "needs +, - or ="), ("17777", "octal modes go up to 7777"), ("q+r", "unknown class \"q\""),
            ("u+z", "unknown permission in \"z\""), ("u+r,", "\"\" needs +, - or =")
        ] {
            var message = "accepted"
            do { _ = try ModeChange(spec) } catch { message = error.message }
            #expect(message.hasPrefix("invalid --chmod \(spec): ") && message.contains(reason), "\(spec): \(message)")
        }
    }
}

@Suite struct ChmodFlag {
    @Test func octalAndSymbolicModes() throws {
        #expect(try ModeChange("0755").apply(to: 0o600, isDirectory: false) == 0o755)
        #expect(try ModeChange("u=rwX,go=rX").apply(to: 0o600, isDirectory: false) == 0o644)
        #expect(try ModeChange("u=rwX,go=rX").apply(to: 0o700, isDirectory: true) == 0o755)
        #expect(try ModeChange("u=rwX,go=rX").apply(to: 0o744, isDirectory: false) == 0o755)
        #expect(try ModeChange("+x").apply(to: 0o644, isDirectory: false) == 0o755)
        #expect(try ModeChange("a-w").apply(to: 0o664, isDirectory: false) == 0o444)
        #expect(try ModeChange("g+s,o=").apply(to: 0o775, isDirectory: true) == 0o2770)
        #expect(throws: ExecutorError.self) { try ModeChange("10000") }
        #expect(throws: ExecutorError.self) { try ModeChange("z+x") }
        #expect(throws: ExecutorError.self) { try ModeChange("u+q") }
    }
}
