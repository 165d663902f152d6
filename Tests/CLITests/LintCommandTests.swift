// The gvmc binary as users and CI run it: exit codes, output formats, config discovery, stdin.
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

enum GVMCBinary {
    /// The debug build, or `$GVMC_TEST_BINARY` (`make test` runs the attack tests again against
    /// the optimized release binary, where a pointer used after its buffer is released shows).
    static let path: String = {
        if let binary = ProcessInfo.processInfo.environment["GVMC_TEST_BINARY"], !binary.isEmpty { return binary }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/gvmc").path
    }()

    @discardableResult
    static func run(
        _ args: [String], stdin: String? = nil, cwd: String? = nil, env: [String: String] = [:]
    ) -> (status: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        var environment = ProcessInfo.processInfo.environment
        environment["NO_COLOR"] = "1"
        // A cache of this test process's own (blobs, unpacked images, build steps), so no test
        // finds a step cached by an earlier run.
        environment["XDG_CACHE_HOME"] = testCacheHome
        for (k, v) in env { environment[k] = v }
        p.environment = environment
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out; p.standardError = err; p.standardInput = input
        do { try p.run() } catch { return (-1, "", "\(error)") }
        if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
        input.fileHandleForWriting.closeFile()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }
}

/// XDG_CACHE_HOME for the gvmc processes of this test run; removed at exit.
let testCacheHome: String = {
    let dir = tempDirectory()
    atexit { _ = try? FileManager.default.removeItem(atPath: testCacheHome) }
    return dir
}()

func tempDirectory() -> String {
    var template = Array("/tmp/gvmc-cli-XXXXXX".utf8CString)
    return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
}

func write(_ path: String, _ text: String) { FileManager.default.createFile(atPath: path, contents: Data(text.utf8)) }

@Suite(.serialized) struct LintCommand {
    let bad = "FROM alpine\nCMD echo hi\n"
    let clean = "FROM alpine\nVOLUME /golem/output\n"

    @Test func exitCodesFollowTheThreshold() {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/bad", bad)
        write(dir + "/clean", clean)
        #expect(GVMCBinary.run(["lint", dir + "/clean"]).status == 0)
        let r = GVMCBinary.run(["lint", dir + "/bad"])
        #expect(r.status == 1)
        #expect(r.out.contains(dir + "/bad:2:1: warning:") && r.out.contains("[GVM001]") && r.out.contains("  2 | CMD echo hi"))
        #expect(GVMCBinary.run(["lint", "--no-fail", dir + "/bad"]).status == 0)
        #expect(GVMCBinary.run(["lint", "--failure-threshold", "error", dir + "/bad"]).status == 0)
        #expect(GVMCBinary.run(["lint", "--error", "GVM003", "--failure-threshold", "error", dir + "/bad"]).status == 1)
        #expect(GVMCBinary.run(["lint", dir + "/missing"]).status == 2)
        #expect(GVMCBinary.run(["lint", "--ignore", "NOPE42", dir + "/bad"]).status == 2)
        #expect(GVMCBinary.run(["lint", "--format", "yaml", dir + "/bad"]).status == 2)
    }

    /// `gvmc lint` with plain options skips ArgumentParser; every argument list must give the
    /// same output and exit status both ways (GVMC_NO_FAST_PATH=1 forces ArgumentParser).
    @Test func fastPathAndArgumentParserAgree() {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/bad", bad)
        write(dir + "/clean", clean)
        write(dir + "/base.json", #"{"config": {"User": "1000", "Volumes": {"/golem/output": {}}}}"#)
        write(dir + "/.gvmc.yaml", "ignore: [GVM003]\n")
        let lists: [[String]] = [
            [dir + "/bad"], [dir + "/clean", dir + "/bad"], ["--no-fail", dir + "/bad"], [dir + "/bad", "--no-fail"],
            ["-f", "json", dir + "/bad"], ["--format=sarif", dir + "/bad"], ["--format", "gnu", "--no-config", dir + "/bad"],
            ["--ignore", "GVM001", "--ignore=GVM002", dir + "/bad"], ["--error", "GVM003", "--warning", "GVM001", dir + "/bad"],
            ["--info", "GVM001", "--failure-threshold", "info", dir + "/bad"], ["--failure-threshold=error", dir + "/bad"],
            ["--experimental", "all", "--format", "checkstyle", dir + "/bad"], ["--config", dir + "/.gvmc.yaml", dir + "/bad"],
            ["--base-config", dir + "/base.json", dir + "/bad"], ["--no-color", "--format", "github", dir + "/bad"],
            [dir + "/missing"], ["--ignore", "NOPE42", dir + "/bad"], ["--format", "yaml", dir + "/bad"], ["--format"],
            ["--no-fail=true", dir + "/bad"], ["--", dir + "/bad"], ["-"], []
        ]
        for args in lists {
            let fast = GVMCBinary.run(["lint"] + args, stdin: bad, cwd: dir)
            let slow = GVMCBinary.run(["lint"] + args, stdin: bad, cwd: dir, env: ["GVMC_NO_FAST_PATH": "1"])
            #expect(
                fast.status == slow.status && fast.out == slow.out && fast.err == slow.err,
                "lint \(args): fast \(fast.status) \(fast.out.prefix(200)) \(fast.err.prefix(200)); ArgumentParser \(slow.status) \(slow.out.prefix(200)) \(slow.err.prefix(200))"
            )
        }
    }

    @Test func readsStandardInputAndSeveralFiles() {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/a", bad)
        let r = GVMCBinary.run(["lint", "--format", "gnu", "-", dir + "/a"], stdin: "FROM alpine\nMAINTAINER x\n")
        #expect(r.out.contains("<stdin>:2.1: warning: Maintainer instruction is deprecated"))
        #expect(r.out.contains(dir + "/a:2.1: warning:"))
    }

    @Test func machineFormatsAreWellFormed() throws {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/Dockerfile", bad)
        let json = GVMCBinary.run(["lint", "--format", "json", dir + "/Dockerfile"])
        let items = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [[String: Any]])
        #expect(items.contains { $0["code"] as? String == "GVM001" && $0["line"] as? Int == 2 && $0["level"] as? String == "warning" })
        let gh = GVMCBinary.run(["lint", "--format", "github", dir + "/Dockerfile"])
        #expect(
            gh.out.split(separator: "\n").allSatisfy {
                $0.hasPrefix("::warning file=") || $0.hasPrefix("::error file=") || $0.hasPrefix("::notice file=")
            })
        #expect(gh.out.contains(",line=2,") && gh.out.contains("title=GVM001::"))
        let cs = GVMCBinary.run(["lint", "--format", "checkstyle", dir + "/Dockerfile"])
        let xml = try XMLDocumentParser.parse(cs.out)
        #expect(xml.contains("error:2:warning:gvmc.GVM001"))
        let sarif = GVMCBinary.run(["lint", "--format", "sarif", dir + "/Dockerfile"])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(sarif.out.utf8)) as? [String: Any])
        #expect(doc["version"] as? String == "2.1.0")
    }

    @Test func configFileIsFoundUpwardAndCanBeSwitchedOff() {
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try? FileManager.default.createDirectory(atPath: dir + "/project/sub", withIntermediateDirectories: true)
        write(dir + "/project/.gvmc.yaml", "ignored: [GVM001, JSONArgsRecommended]\noverride:\n  info: [GVM003]\n")
        write(dir + "/project/sub/Dockerfile", bad)
        let r = GVMCBinary.run(["lint", "--format", "gnu", dir + "/project/sub/Dockerfile"])
        #expect(r.status == 0, "\(r.out)\(r.err)")
        #expect(!r.out.contains("GVM001") && r.out.contains("info: no VOLUME declared"))
        #expect(GVMCBinary.run(["lint", "--no-config", dir + "/project/sub/Dockerfile"]).status == 1)
        write(dir + "/project/.gvmc.yaml", "ignored: [\n")
        let broken = GVMCBinary.run(["lint", dir + "/project/sub/Dockerfile"])
        #expect(broken.status == 2 && broken.err.contains(".gvmc.yaml"))
    }

    @Test func explainPrintsRationaleExampleAndFix() {
        let r = GVMCBinary.run(["lint", "--explain", "GVM005"])
        #expect(r.status == 0)
        #expect(
            r.out.contains("GVM005 (warning)") && r.out.contains("Why:") && r.out.contains("Example that triggers it:")
                && r.out.contains("Fix:"))
        #expect(GVMCBinary.run(["lint", "--explain", "GVM999"]).status == 2)
        #expect(GVMCBinary.run(["lint", "--list-rules"]).out.split(separator: "\n").count >= 43)
    }
}

/// Flattens checkstyle XML into "error:LINE:SEVERITY:SOURCE" strings (and proves it parses).
enum XMLDocumentParser {
    final class Delegate: NSObject, XMLParserDelegate {
        var items: [String] = []
        func parser(
            _ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
            attributes: [String: String] = [:]
        ) {
            if name == "error" {
                items.append("error:\(attributes["line"] ?? ""):\(attributes["severity"] ?? ""):\(attributes["source"] ?? "")")
            }
        }
    }
    static func parse(_ text: String) throws -> [String] {
        let parser = XMLParser(data: Data(text.utf8))
        let d = Delegate()
        parser.delegate = d
        guard parser.parse() else { throw parser.parserError ?? NSError(domain: "xml", code: 1) }
        return d.items
    }
}

/// The steps of a build from its plain progress output (BuildKit's `#N [stage i/N] ...` vertices
/// ending in `#N CACHED` or `#N DONE`), as `#S.I`: S the stage in order of appearance, I the step
/// in the stage (a FROM of an image not counted).
func builtSteps(_ err: String) -> [(id: String, cached: Bool)] {
    var names: [Int: (stage: Int, index: Int)] = [:]
    var stages: [String] = []
    var fromOffset: [Int: Int] = [:]
    var result: [(vertex: Int, id: String, cached: Bool)] = []
    for line in err.split(separator: "\n") where line.hasPrefix("#") {
        let parts = line.dropFirst().split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let n = Int(parts[0]) else { continue }
        let rest = parts[1]
        if rest.hasPrefix("["), !rest.hasPrefix("[internal]"), let close = rest.firstIndex(of: "]"), names[n] == nil {
            let label = rest[rest.index(after: rest.startIndex)..<close]
            let words = label.split(separator: " ")
            let stageName = words.count > 1 ? String(words[0]) : ""
            guard let slash = words.last?.firstIndex(of: "/"), let i = Int(words.last![..<slash].trimmingCharacters(in: .whitespaces))
            else { continue }
            if !stages.contains(stageName) { stages.append(stageName) }
            let s = stages.firstIndex(of: stageName)!
            if rest[close...].hasPrefix("] FROM ") { fromOffset[s] = 1; continue }
            names[n] = (s, i - (fromOffset[s] ?? 0))
        } else if rest.hasPrefix("CACHED") || rest.hasPrefix("DONE "), let step = names[n] {
            result.append((n, "#\(step.stage).\(step.index)", rest.hasPrefix("CACHED")))
        }
    }
    return result.map { ($0.id, $0.cached) }
}
