// git over HTTP against real servers that misbehave or are misused: git http-backend with a
// submodule URL that climbs out of the token's scope with `..`, a plain web server over a bare
// repository ("dumb" HTTP), a port nobody listens on, and a server whose pack never ends.
import Foundation
import Testing
@testable import HTTPTransport
@testable import GitSource

/// A python3 server from Fixtures (or the standard library's) on loopback, stopped at deinit.
final class LoopbackServer {
    static let fixtures = TestFixtures.directory
    let process = Process()
    var port = 0
    var base: String { "http://127.0.0.1:\(port)" }

    /// `arguments` for python3 in which PORT_FILE is where the server writes its port, or PORT
    /// a free port given to it.
    init(_ arguments: [String], environment: [String: String] = [:]) throws {
        let portFile = NSTemporaryDirectory() + "port-" + UUID().uuidString
        defer { try? FileManager.default.removeItem(atPath: portFile) }
        if arguments.contains("PORT") {
            port =
                Int(
                    Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
                        .output.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = arguments.map { $0 == "PORT_FILE" ? portFile : $0 == "PORT" ? String(port) : $0 }
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<100 {
            if port == 0, let text = try? String(contentsOfFile: portFile, encoding: .utf8) { port = Int(text) ?? 0 }
            if port > 0, Tools.run(["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/\(port)"]).status == 0 { break }
            usleep(50_000)
        }
        try #require(port > 0, "the server did not start")
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

@Suite(
    .enabled(
        if: FileManager.default.isExecutableFile(atPath: "/usr/bin/git")
            && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
        "needs git and python3"))
struct GitHTTPTests {
    let dir = NSTemporaryDirectory() + "githttp-" + UUID().uuidString

    func sh(_ script: String) throws {
        let r = Tools.run(["sh", "-c", "set -e; cd \(dir); " + script])
        try #require(r.status == 0, "\(r.output)")
    }

    func checkout(_ url: String, authorization: String? = nil) -> String {
        let out = dir + "/out-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        do {
            _ = try GitFetch.checkout(url, into: out, authorization: authorization)
            return "ok"
        } catch {
            return "\(error)"
        }
    }

    /// A .gitmodules URL `<repo>.git/../../public/x.git` names a repository outside the one the
    /// token is for: the token is not sent there (libcurl resolves the `..` before it sends).
    @Test func aSubmoduleURLClimbingOutOfScopeGetsNoToken() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir + "/root", withIntermediateDirectories: true)
        let server = try LoopbackServer(
            [LoopbackServer.fixtures + "/git_http.py", dir + "/root", "PORT_FILE"],
            environment: ["GIT_TEST_TOKEN": "s3cret", "GIT_TEST_LOG": dir + "/log"])
        try sh(
            """
            git init -q -b main x; cd x; echo sub > README; git add -A; git -c user.name=t -c user.email=t@e commit -q -m x; cd ..
            git clone -q --bare x root/public/x.git
            git init -q -b main app; cd app; echo app > README
            printf '[submodule "x"]\\n\\tpath = x\\n\\turl = \(server.base)/private/app.git/../../public/x.git\\n' > .gitmodules
            git update-index --add --cacheinfo 160000,$(git -C ../x rev-parse HEAD),x; git add README .gitmodules
            git -c user.name=t -c user.email=t@e commit -q -m app; cd ..; git clone -q --bare app root/private/app.git
            """)
        let token = GitFetch.authorization(header: nil, token: "s3cret")
        #expect(checkout(server.base + "/private/app.git", authorization: token) == "ok")
        let log = try String(contentsOfFile: dir + "/log", encoding: .utf8).split(separator: "\n")
        #expect(log.contains { $0.hasPrefix("/private/app.git/") && !$0.hasSuffix(" -") }, "the superproject gets the token")
        let sub = log.filter { $0.hasPrefix("/public/x.git/") }
        #expect(!sub.isEmpty && sub.allSatisfy { $0.hasSuffix(" -") }, "\(log)")
        #expect(!GitFetch.credentialsApply(to: "http://h/repo.git/../../x.git", from: "http://h/repo.git"))
        #expect(!GitFetch.credentialsApply(to: "http://h/repo.git/%2e%2e/x.git", from: "http://h/repo.git"))
        #expect(GitFetch.credentialsApply(to: "http://h/repo.git/./sub.git", from: "http://h/repo.git"))
    }

    /// A bare repository behind a plain web server (`git update-server-info`, python's
    /// http.server): the error says what the server lacks, not "malformed pkt-line".
    @Test func aDumbHTTPServerIsNamedAsSuch() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try sh(
            """
            git init -q -b main w; cd w; echo x > README; git add -A; git -c user.name=t -c user.email=t@e commit -q -m x; cd ..
            git clone -q --bare w served/r.git; git -C served/r.git update-server-info
            """)
        let server = try LoopbackServer(["-m", "http.server", "PORT", "--bind", "127.0.0.1", "--directory", dir + "/served"])
        let error = checkout(server.base + "/r.git")
        #expect(error.contains("does not speak git's smart HTTP protocol") && error.contains("dumb"), "\(error)")
    }

    /// Nobody listening: libcurl's message (not a Swift value), after the registry client's
    /// four attempts.
    @Test func transportFailuresAreReadableAndRetried() throws {
        let port = Tools.run(["python3", "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"])
            .output.trimmingCharacters(in: .whitespacesAndNewlines)
        let start = Date()
        let error = checkout("http://127.0.0.1:\(port)/r.git")
        #expect(
            error.hasPrefix("http://127.0.0.1:\(port)/r.git/info/refs?service=git-upload-pack: ") && error.contains("(after 4 attempts)")
                && !error.contains("TransportError("), "\(error)")
        #expect(Date().timeIntervalSince(start) > 1.5, "backoff between attempts")
    }

    /// A server whose pack never ends, and an ADD URL whose body never ends: both stop at the
    /// download limit with an error saying so, instead of filling the disk.
    @Test func endlessPacksAndBodiesStopAtTheLimit() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/blob", contents: Data())
        let server = try LoopbackServer([LoopbackServer.fixtures + "/misbehaving_http.py", dir + "/blob", "PORT_FILE", dir + "/log"])
        let error = DownloadLimit.$override.withValue(32 << 20) { checkout(server.base + "/endless.git") }
        #expect(error.contains("the packfile stopped: more than 33554432 bytes (the limit; GVMC_MAX_DOWNLOAD sets another)"), "\(error)")
        let fd = open(dir + "/download", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let download = DownloadLimit.$override.withValue(32 << 20) {
            Result { try URLDownload.fetch(server.base + "/forever", to: fd) }
        }
        #expect(throws: HTTPError.self) { try download.get() }
        if case .failure(let e) = download { #expect("\(e)".contains("/forever: the download stopped: more than 33554432 bytes"), "\(e)") }
        var st = stat()
        fstat(fd, &st)
        #expect(st.st_size <= 33554432)
    }

    /// A server that sends 64 KiB of a 10 MB body and then nothing: the download is abandoned
    /// after the stall deadline (here 2 s per attempt) with libcurl's reason, not after hours.
    @Test func aStalledDownloadIsAbandoned() throws {
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: dir + "/blob", contents: Data())
        let server = try LoopbackServer([LoopbackServer.fixtures + "/misbehaving_http.py", dir + "/blob", "PORT_FILE", dir + "/log"])
        let fd = open(dir + "/download", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        defer { close(fd) }
        let start = Date()
        let download = DownloadLimit.$stallOverride.withValue(2) {
            Result { try URLDownload.fetch(server.base + "/stall", to: fd, attempts: 2) }
        }
        let took = Date().timeIntervalSince(start)
        #expect(throws: HTTPError.self) { try download.get() }
        if case .failure(let e) = download {
            #expect("\(e)".contains("the last 2 seconds") && "\(e)".contains("(after 2 attempts)"), "\(e)")
        }
        print("a stalled download abandoned after \(String(format: "%.1f", took)) s")
        #expect(took < 60, "\(took) s")
    }
}
