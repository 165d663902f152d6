// The real registries of Tests/TestSupport/Fixtures/start_registries.sh on loopback (Debian's
// docker-registry plain, with basic auth and with token auth, and the fault-injecting proxy),
// started once per test process for the registry and CLI tests; a watchdog stops them at exit.
import Foundation
#if canImport(Testing)
import Testing
#endif
#if canImport(Glibc)
import Glibc
#endif

public enum LoopbackRegistries {
    public static let fixtures = TestFixtures.directory
    public static let missingTools: [String] = [
        "docker-registry", "skopeo", "umoci", "htpasswd", "openssl", "python3", "busybox", "zstd", "unsquashfs"
    ]
    .filter { !Tools.exists($0) }
    public static let available = missingTools.isEmpty
    public static let why = "needs \(missingTools.joined(separator: ", ")) (make test-deps installs them)"

    /// The servers' ports by name (PLAIN, BASIC, TOKEN, TOKAUTH, PROXY) and WORK, their directory.
    public static let ports: [String: String] = {
        var template = Array("/tmp/gvmc-registries-XXXXXX".utf8CString)
        let work = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) } + "/registries"
        let r = Tools.run(["bash", fixtures + "/start_registries.sh", work, "\(getpid())"])
        guard r.status == 0, let env = try? String(contentsOfFile: work + "/env", encoding: .utf8) else {
            #if canImport(Testing)
            Issue.record("start_registries.sh failed: \(r.output)")
            #endif
            return [:]
        }
        var out: [String: String] = ["WORK": work]
        for line in env.split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }()

    /// `127.0.0.1:PORT` of a server.
    public static func registry(_ name: String) -> String { "127.0.0.1:\(ports[name] ?? "0")" }
    /// The OCI layout the fixture images were pushed from.
    public static var layout: String { (ports["WORK"] ?? "/nonexistent") + "/layout" }
}
