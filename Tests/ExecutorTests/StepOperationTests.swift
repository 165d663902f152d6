// Each kind of step as its operation, on a scratch root filesystem and without the executor:
// which operation a step is, COPY from the context, ADD of URLs and of git repositories through
// the caller's fetchers (a git ref asked once per build, with credentials from the secrets).
import BuildPlan
import Foundation
@testable import Executor
import Testing

@Suite struct StepOperations {
    static func steps(_ text: String) throws -> [Step] { try StepKeyTests.plan("FROM scratch\n" + text).targetStage.steps }

    @Test func eachStepIsTheOperationOfItsKind() throws {
        let kinds = try Self.steps(
            """
            COPY a /a
            ADD a /a
            ADD https://example.com/x /x
            ADD https://github.com/x/y.git /y
            ADD git@github.com:x/y.git /y
            ADD https://example.com/x https://github.com/x/y.git /z/
            RUN true
            WORKDIR /w
            """
        ).map { String(describing: type(of: $0.operation)) }
        #expect(
            kinds == [
                "CopyOperation", "CopyOperation", "URLAddOperation", "GitAddOperation", "GitAddOperation",
                "GitAddOperation", "RunOperation", "WorkdirOperation"
            ])
    }

    /// A context, a root to build in and the context's operations share.
    struct Setup {
        let scratch = Scratch()
        let context: ExecutionContext
        var root: String { scratch.sub("root") }

        init() throws {
            let source = try StepKeyTests.makeContext()
            try FileManager.default.moveItem(atPath: source, toPath: scratch.sub("context"))
            try FileManager.default.createDirectory(atPath: scratch.sub("root"), withIntermediateDirectories: false)
            try FileManager.default.createDirectory(atPath: scratch.sub("work"), withIntermediateDirectories: false)
            context = ExecutionContext(
                buildContext: BuildContext(directory: scratch.sub("context"), ignore: DockerIgnore(text: "*.log\n")),
                workDirectory: scratch.sub("work"))
        }

        func run(_ text: String) throws {
            for step in try StepOperations.steps(text) { try step.operation.execute(in: root, context: context) }
        }
    }

    @Test(.enabled(if: getuid() == 0, "owners are set as root"))
    func copyLeavesOutWhatTheContextIgnoresAndWhatIsExcluded() throws {
        let s = try Setup()
        try s.run(
            """
            COPY . /all/
            COPY --exclude=sub/*.txt dir /e/
            COPY --chmod=0600 a.txt /x/
            """)
        let fm = FileManager.default
        #expect(fm.fileExists(atPath: s.root + "/all/a.txt") && !fm.fileExists(atPath: s.root + "/all/b.log"))
        #expect(fm.fileExists(atPath: s.root + "/e/sub/x.py") && !fm.fileExists(atPath: s.root + "/e/sub/y.txt"))
        #expect((try fm.attributesOfItem(atPath: s.root + "/x/a.txt")[.posixPermissions] as? Int) == 0o600)
    }

    /// Serves every URL with the same bytes and time.
    struct OneFile: URLFetcher {
        func fetch(_ url: String, to fd: Int32) throws -> Int64? {
            let bytes = Array("payload\n".utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            return 1_000_000_000
        }
    }

    @Test(.enabled(if: getuid() == 0, "owners are set as root"))
    func addOfAURLDownloadsThroughTheFetcherAndChecksTheChecksum() throws {
        let s = try Setup()
        s.context.urlFetcher = OneFile()
        try s.run("ADD --chmod=0644 https://example.com/files/data.txt /d/")
        let path = s.root + "/d/data.txt"
        #expect(FileManager.default.contents(atPath: path) == Data("payload\n".utf8))
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect(attributes[.posixPermissions] as? Int == 0o644)
        #expect((attributes[.modificationDate] as? Date)?.timeIntervalSince1970 == 1_000_000_000)
        let wrong = "sha256:" + String(repeating: "0", count: 64)
        #expect(throws: ExecutorError.self) { try s.run("ADD --checksum=\(wrong) https://example.com/files/data.txt /f") }
        s.context.urlFetcher = nil
        #expect(throws: ExecutorError.self) { try s.run("ADD https://example.com/files/data.txt /g") }
    }

    /// A remote whose every ref names one commit holding a README; it counts what it is asked.
    final class CountingRemote: GitRemote {
        var resolved: [String] = []
        var accesses: [GitAccess] = []
        func resolve(_ url: String, access: GitAccess) throws -> String {
            resolved.append(url)
            accesses.append(access)
            return "0123456789abcdef0123456789abcdef01234567"
        }
        func checkout(
            _ url: String, id: String, into directory: String, keepGitDir: Bool, access: GitAccess
        ) throws -> (commit: String, time: Int64) {
            try Data("readme\n".utf8).write(to: URL(fileURLWithPath: directory + "/README"))
            return (id, 0)
        }
    }

    @Test(.enabled(if: getuid() == 0, "owners are set as root"))
    func aGitRefIsAskedOncePerBuildWithTheSecretsCredentials() throws {
        let s = try Setup()
        let remote = CountingRemote()
        s.context.git = remote
        let token = s.scratch.sub("token")
        try Data("t0ken\n".utf8).write(to: URL(fileURLWithPath: token))
        s.context.sandbox.secrets = ["GIT_AUTH_TOKEN.git.example.com:8443": token]
        s.context.sandbox.sshAgents = ["default": "/run/agent.sock"]
        let steps = try Self.steps(
            """
            ADD https://git.example.com:8443/x/y.git#main /src
            ADD https://git.example.com:8443/x/y.git#main /again
            """)
        for step in steps {
            #expect(try step.operation.cacheKey(after: "previous-key", in: s.context) != nil)
            try step.operation.execute(in: s.root, context: s.context)
        }
        #expect(remote.resolved == ["https://git.example.com:8443/x/y.git#main"])
        #expect(remote.accesses.first?.token == "t0ken" && remote.accesses.first?.sshAgent == "/run/agent.sock")
        #expect(FileManager.default.contents(atPath: s.root + "/again/README") == Data("readme\n".utf8))
    }
}
