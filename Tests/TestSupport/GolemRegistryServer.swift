// The local Golem registry of the tests (Tests/TestSupport/Fixtures/golem_registry.py) and the
// real Golem clients from the package's .venv (gvmkit-build, yapapi; `make test-deps` installs them).
import Foundation
#if canImport(Glibc)
import Glibc
#endif

public enum GolemClients {
    public static let gvmkitBuild = TestFixtures.packageRoot + "/.venv/bin/gvmkit-build"
    public static let python = TestFixtures.packageRoot + "/.venv/bin/python"
    public static let hasGvmkitBuild = FileManager.default.isExecutableFile(atPath: gvmkitBuild)
    public static let hasYapapi =
        FileManager.default.isExecutableFile(atPath: python)
        && Tools.run([python, "-c", "import yapapi.payload.package"]).status == 0
    public static let why = "needs gvmkit-build==0.3.19 and yapapi==0.13.1 in .venv (make test-deps installs them)"

    /// Runs `gvmkit-build` with `environment` added; its exit status and output.
    public static func gvmkit(_ arguments: [String], environment: [String: String]) -> (status: Int32, output: String) {
        Tools.run(["env"] + environment.map { "\($0)=\($1)" } + [gvmkitBuild] + arguments)
    }

    /// yapapi's `resolve_package_url(registry, image_tag=)` or `(image_hash=)`: the task package string.
    public static func yapapiResolve(_ registry: String, tag: String? = nil, hash: String? = nil) -> (status: Int32, output: String) {
        let argument = tag.map { "image_tag='\($0)'" } ?? "image_hash='\(hash ?? "")'"
        return Tools.run([
            python, "-c",
            "import asyncio, yapapi.payload.package as p; "
                + "print(asyncio.run(p.resolve_package_url('\(registry)', \(argument))))"
        ])
    }
}

/// A golem_registry.py process on loopback with users alice:secret and bob:bobtoken; killed at deinit.
public final class GolemRegistryServer {
    public static let script = TestFixtures.directory + "/golem_registry.py"
    public static let users = ["alice": "secret", "bob": "bobtoken"]
    let process = Process()
    let state: String
    public private(set) var port = 0
    public var url: String { "http://127.0.0.1:\(port)" }

    public init() throws {
        var template = Array("/tmp/gvmc-golem-registry-XXXXXX".utf8CString)
        state = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        let portFile = state + "/port"
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [Self.script, state, portFile] + Self.users.flatMap { ["--user", "\($0):\($1)"] }
        process.standardError = FileHandle(forWritingAtPath: "/dev/null")
        try process.run()
        for _ in 0..<200 {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let p = Int(text) { port = p; break }
            usleep(50_000)
        }
        guard port > 0 else {
            throw CocoaError(.fileReadNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "the test registry did not start"])
        }
    }

    deinit {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        _ = Tools.run(["rm", "-rf", state])
    }

    /// Sets fault switches (see golem_registry.py): `fail_chunks`, `drop_chunks`, `never_full`, ...
    public func faults(_ json: String) {
        _ = Tools.run(["curl", "-sf", "-X", "POST", "--data-binary", json, url + "/_test/faults"])
    }

    /// The server's request counters: `chunk_posts`, `chunks_stored`, `descr_post`, `login`, ...
    public func counters() -> [String: Int] {
        let out = Tools.run(["curl", "-sf", url + "/_test/counters"]).output
        return (try? JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Int]) ?? [:]
    }

    public func resetCounters() {
        _ = Tools.run(["curl", "-sf", "-X", "POST", url + "/_test/reset_counters"])
    }
}

/// SHA3-224 of a file as Python's hashlib computes it (an implementation other than gvmc's).
public func pythonSHA3(_ path: String) -> String {
    Tools.run(["python3", "-c", "import hashlib,sys; print(hashlib.sha3_224(open(sys.argv[1],'rb').read()).hexdigest())", path])
        .output.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// A file of `count` pseudo-random bytes (incompressible, distinct per seed).
public func writeRandomFile(_ path: String, count: Int, seed: UInt64) {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    var bytes = [UInt8](repeating: 0, count: count)
    for i in stride(from: 0, to: count, by: 8) {
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        withUnsafeBytes(of: state) { word in for j in 0..<min(8, count - i) { bytes[i + j] = word[j] } }
    }
    _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
}
