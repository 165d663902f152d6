// Build progress as BuildKit prints it (plain), as JSON lines (rawjson), the metadata file and
// GitHub annotations.
import Foundation
import Testing

@Suite(
    .serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, loop mount) and busybox (apt-get install busybox-static)"))
struct ProgressOutput {
    static let dockerfile = """
        \(BuildFixture.toolsStage)

        FROM tools AS app
        WORKDIR /app
        RUN echo hello && echo warn >&2
        COPY data.txt /app/
        """

    /// Plain output with times masked: `0.123`/`12.34` log stamps become T, `DONE 1.2s` DONE Xs.
    static func masked(_ err: String) -> String {
        err.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            var words = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            if words.count >= 2, words[0].hasPrefix("#"), Double(words[1]) != nil { words[1] = "T" }
            if words.count >= 1, words[0].contains("."), Double(words[0]) != nil { words[0] = "T" }  // the error footer's log lines
            if words.count == 3, words[1] == "DONE" { words[2] = "Xs" }
            return words.joined(separator: " ")
        }.joined(separator: "\n")
    }

    @Test func plainOutputIsBuildKitsLineForLine() throws {
        let ctx = try BuildFixture.context(Self.dockerfile, files: ["data.txt": "x\n", ".dockerignore": "*.gvmi\ncache\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let args = ["build", "--progress", "plain", "--cache-dir", ctx + "/cache", "-o", ctx + "/app.gvmi", ctx]
        let first = GVMCBinary.run(args)
        try #require(first.status == 0, "\(first.err)")
        let masked = Self.masked(first.err)
        let steps = masked[try #require(masked.range(of: "#3 "))!.lowerBound...].components(separatedBy: "\n#8 ")[0]
        #expect(
            steps == """
                #3 [tools 1/2] COPY busybox /bin/busybox
                #3 DONE Xs

                #4 [tools 2/2] RUN ["/bin/busybox", "--install", "-s", "/bin"]
                #4 DONE Xs

                #5 [app 1/3] WORKDIR /app
                #5 DONE Xs

                #6 [app 2/3] RUN echo hello && echo warn >&2
                #6 T hello
                #6 T warn
                #6 DONE Xs

                #7 [app 3/3] COPY data.txt /app/
                #7 DONE Xs

                """, "\(first.err)")
        #expect(masked.contains("\n#8 writing image \(ctx)/app.gvmi\n#8 squashfs gzip: "))
        #expect(first.err.hasPrefix("#1 [internal] load build definition from Dockerfile\n#1 transferring dockerfile: "))
        #expect(first.err.contains("\n\n#2 [internal] load .dockerignore\n#2 transferring context: 13B done\n#2 DONE 0.0s\n"))
        #expect(first.err.contains("#8 DONE ") && first.err.contains("built \(ctx)/app.gvmi in "))
        // Again, with the data changed: the steps before the COPY are CACHED.
        write(ctx + "/data.txt", "y\n")
        let second = GVMCBinary.run(args)
        try #require(second.status == 0, "\(second.err)")
        #expect(
            Self.masked(second.err).contains(
                """
                #5 [app 1/3] WORKDIR /app
                #5 CACHED

                #6 [app 2/3] RUN echo hello && echo warn >&2
                #6 CACHED

                #7 [app 3/3] COPY data.txt /app/
                #7 DONE Xs
                """), "\(second.err)")
        #expect(second.err.contains(": 5 steps, 4 cached"))
    }

    @Test func gitlabGetsACollapsibleSectionPerStep() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", ctx + "/x.gvmi", ctx], env: ["GITLAB_CI": "true"])
        #expect(r.status == 0, "\(r.err)")
        let starts = r.err.components(separatedBy: "\u{1B}[0Ksection_start:").count - 1
        let ends = r.err.components(separatedBy: "\u{1B}[0Ksection_end:").count - 1
        #expect(starts == 4 && ends == 4, "\(r.err)")  // definition, .dockerignore, COPY, writing the image
        #expect(r.err.contains(":gvmc_step_3[collapsed=true]\r\u{1B}[0K#3 [1/1] COPY busybox /bin/busybox\n"))
        let plain = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", ctx + "/y.gvmi", ctx])
        #expect(!plain.err.contains("section_start"))
    }

    @Test func aFailingStepEndsWithItsOutputAndTheDockerfileExcerpt() throws {
        let ctx = try BuildFixture.context(
            "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"echo compiling; exit 3\"]\nCOPY busybox /b\n"
        )
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(["build", "--progress", "plain", "--cache-dir", ctx + "/cache", "-o", ctx + "/x.gvmi", ctx])
        #expect(r.status == 1)
        #expect(
            Self.masked(r.err).contains(
                """
                #4 [2/3] RUN ["/bin/busybox", "sh", "-c", "echo compiling; exit 3"]
                #4 T compiling
                #4 ERROR: RUN echo compiling; exit 3 did not complete successfully: exit code 3
                ------
                 > [2/3] RUN ["/bin/busybox", "sh", "-c", "echo compiling; exit 3"]:
                T compiling
                ------
                \(ctx)/Dockerfile:3
                --------------------
                 1 |     FROM scratch
                 2 |     COPY busybox /bin/busybox
                 3 | >>> RUN ["/bin/busybox", "sh", "-c", "echo compiling; exit 3"]
                 4 |     COPY busybox /b
                --------------------
                error: \(ctx)/Dockerfile:3:1: RUN echo compiling; exit 3 did not complete successfully: exit code 3
                """), "\(r.err)")
        #expect(!r.err.contains("[3/3]"), "nothing runs after the failure")
    }

    @Test func rawjsonLinesParseAndEveryVertexEnds() throws {
        let ctx = try BuildFixture.context(Self.dockerfile, files: ["data.txt": "x\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(["build", "--progress", "rawjson", "--cache-dir", ctx + "/cache", "-o", ctx + "/app.gvmi", ctx])
        try #require(r.status == 0, "\(r.err)")
        var started: Set<String> = [], completed: Set<String> = [], names: [String: String] = [:]
        var logs = ""
        for line in r.err.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "\(line)")
            for v in object["vertexes"] as? [[String: Any]] ?? [] {
                let digest = try #require(v["digest"] as? String)
                #expect(digest.hasPrefix("sha256:") && digest.count == 71)
                names[digest] = v["name"] as? String
                started.insert(digest)
                if v["completed"] != nil { completed.insert(digest) }
            }
            for l in object["logs"] as? [[String: Any]] ?? [] {
                let text = try #require(l["data"] as? String)
                let data = try #require(Data(base64Encoded: text))
                let vertex = try #require(l["vertex"] as? String)
                #expect(names[vertex] == "[app 2/3] RUN echo hello && echo warn >&2")
                logs += String(decoding: data, as: UTF8.self)
            }
        }
        #expect(started.count == 8 && started == completed)
        #expect(logs.split(separator: "\n").sorted() == ["hello", "warn"])
        #expect(!r.err.contains("\n#"), "no plain lines mixed in")
    }

    @Test func metadataFileAgreesWithInspectAndAnnotationsWithTheWarnings() throws {
        let ctx = try BuildFixture.context(Self.dockerfile, files: ["data.txt": "x\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let r = GVMCBinary.run(
            ["build", "--metadata-file", ctx + "/meta.json", "--cache-dir", ctx + "/cache", "-o", ctx + "/app.gvmi", ctx],
            env: ["GITHUB_ACTIONS": "true"])
        try #require(r.status == 0, "\(r.err)")
        let meta = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: ctx + "/meta.json"))) as? [String: Any])
        let inspect = try #require(
            try JSONSerialization.jsonObject(with: Data(GVMCBinary.run(["inspect", "--json", ctx + "/app.gvmi"]).out.utf8))
                as? [String: Any])
        let image = try #require(meta["image"] as? [String: Any])
        #expect(image["sha3_224"] as? String == inspect["sha3_224"] as? String)
        #expect(image["sha256"] as? String == inspect["sha256"] as? String)
        #expect(image["size"] as? Int == inspect["size"] as? Int)
        let metaConfig = try #require(meta["config"] as? [String: Any])
        let inspectConfig = try #require(inspect["config"] as? [String: Any])
        #expect(NSDictionary(dictionary: metaConfig).isEqual(to: inspectConfig))
        let steps = try #require(meta["steps"] as? [[String: Any]])
        let run = try #require(steps.first { ($0["name"] as? String) == "[app 2/3] RUN echo hello && echo warn >&2" })
        #expect((run["key"] as? String)?.count == 64 && run["cached"] as? Bool == false && run["duration"] is Double)
        // Each Golem warning on standard error is a workflow command on standard output.
        let warnings = r.err.split(separator: "\n").filter { $0.hasPrefix(ctx + "/Dockerfile:") && $0.contains(": warning: ") }
        #expect(!warnings.isEmpty)
        for w in warnings {
            let p = w.split(separator: ":", maxSplits: 3)
            let message = p[3].dropFirst(" warning: ".count)
            #expect(r.out.contains("::warning file=\(p[0]),line=\(p[1]),col=\(p[2])::\(message)"), "\(w)\n\(r.out)")
        }
    }

    @Test(.enabled(if: Tools.exists("script"), "needs script (bsdutils) for a pseudo-terminal"))
    func ttyViewFitsANarrowTerminalAndHonoursNoColor() throws {
        let ctx = try BuildFixture.context(Self.dockerfile, files: ["data.txt": "x\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func inTerminal(_ env: String) throws -> String {
            let command =
                "stty cols 60 rows 30; \(env) \(GVMCBinary.path) build --no-cache --cache-dir \(ctx)/cache -o \(ctx)/app.gvmi \(ctx)"
            let r = Tools.run(["script", "-qfec", command, ctx + "/typescript"])
            try #require(r.status == 0, "\(r.output)")
            return String(decoding: FileManager.default.contents(atPath: ctx + "/typescript") ?? Data(), as: UTF8.self)
        }
        let plainColors = try inTerminal("NO_COLOR=1")
        #expect(plainColors.contains("FINISHED"))
        #expect(!plainColors.contains("\u{1B}[3"), "no colour with NO_COLOR")
        // The final screen: every vertex, each line cut to the 60 columns.
        let final = plainColors.components(separatedBy: "FINISHED").last!.split(whereSeparator: \.isNewline)  // "\r\n" is one Character
        let lines = final.map { $0.replacingOccurrences(of: "\u{1B}[2K", with: "").replacingOccurrences(of: "\r", with: "") }
            .filter { $0.hasPrefix(" => ") }
        #expect(lines.count == 8, "\(lines)")
        #expect(lines.allSatisfy { $0.count <= 59 }, "\(lines)")
        #expect(lines.contains { $0.hasPrefix(" => [app 2/3] RUN echo hello && echo warn >&2") })
        let colored = try inTerminal("env -u NO_COLOR")
        #expect(colored.contains("\u{1B}[34m"), "the running step is coloured on a terminal")
        // Not a terminal: auto is plain.
        let piped = GVMCBinary.run(["build", "--cache-dir", ctx + "/cache", "-o", ctx + "/app.gvmi", ctx])
        #expect(piped.status == 0 && !piped.err.contains("\u{1B}[") && piped.err.contains("#3 [tools 1/2] COPY busybox /bin/busybox"))
    }
}

/// A base image unpacked into the cache by a build: its file bytes are a transfer of the FROM
/// step, as the squashfs write is one of the image's (a bar in tty, a `done` status in plain).
@Suite(
    .serialized,
    .enabled(if: BuildFixture.canRun && RegistryFixture.available, "needs root, busybox and the loopback registries (make test-deps)"))
struct UnpackingProgress {
    @Test func unpackingTheBaseImageIsAStatusOfTheFromStep() throws {
        let scratch = Scratch()
        let ref = RegistryFixture.registry("PLAIN") + "/test/multi:v1"
        write(scratch.sub("Dockerfile"), "FROM \(ref)\nWORKDIR /app\n")
        let plain = GVMCBinary.run([
            "build", "--progress", "plain", "--cache-dir", scratch.sub("c1"), "-o", scratch.sub("p.gvmi"), scratch.path
        ])
        try #require(plain.status == 0, "\(plain.err)")
        let lines = plain.err.split(separator: "\n").map(String.init)
        let from = try #require(lines.first { $0.hasSuffix(" [1/2] FROM \(ref)") }, "\(plain.err)")
        let vertex = String(from.prefix { $0 != " " })
        let unpacking = lines.filter { $0.hasPrefix(vertex + " unpacking ") }
        let words = try #require(unpacking.last?.split(separator: " "), "\(plain.err)")
        // `#N unpacking 1.03MB / 1.03MB 0.1s done`: all of the image's file bytes.
        #expect(words.count == 7 && words[2] == words[4] && words[2].hasSuffix("B") && words[6] == "done", "\(unpacking)")
        // rawjson (a fresh cache, so the image is unpacked again): the statuses end at the total.
        let json = GVMCBinary.run([
            "build", "--progress", "rawjson", "--cache-dir", scratch.sub("c2"), "-o", scratch.sub("j.gvmi"), scratch.path
        ])
        try #require(json.status == 0, "\(json.err)")
        var last: (current: Int, total: Int, completed: Bool)?
        for line in json.err.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            for s in object["statuses"] as? [[String: Any]] ?? [] where s["id"] as? String == "unpacking" {
                last = (s["current"] as? Int ?? -1, s["total"] as? Int ?? -2, s["completed"] != nil)
            }
        }
        #expect(last.map { $0.current == $0.total && $0.total > 100_000 && $0.completed } == true, "\(String(describing: last))")
    }
}
