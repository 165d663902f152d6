// What `gvmc run` was asked for, shared by the sandbox and the VM runner.
import Executor
#if canImport(Glibc)
import Glibc
#endif

/// What `gvmc run` was asked for: image, command, environment, volumes and limits.
public struct RunConfiguration: Sendable {
    public var imagePath: String
    /// nil: an interactive session (one `shell -c LINE` per line).
    public var request: ProcessRequest?
    public var shell = "/bin/sh"
    public var version: GolemRuntimeVersion = .current
    /// `--env K=V`, as a requestor's command adds them.
    public var environment: [String] = []
    /// `-v HOST_DIR:VOLUME`.
    public var bindings: [String] = []
    /// Where fresh volume directories go; nil: a temporary directory removed at the end.
    public var workdir: String?
    /// The provider defaults: 0.25 GiB, 1 CPU (ya-runtime-vm lib.rs).
    public var memoryBytes: UInt64 = 256 << 20
    public var cpus: Double = 1
    public var hostNetwork = false
    public var hostname = "golem"

    public init(imagePath: String) { self.imagePath = imagePath }

    /// `SIZE` as `--memory` takes it: a number with K, M, G or T (binary units, `B`/`iB`
    /// optional), or a plain number of GiB as ya-runtime-vm's `--mem-gib`.
    public static func parseSize(_ text: String) -> UInt64? {
        var t = text.uppercased()
        for suffix in ["IB", "B"] where t.hasSuffix(suffix) && t.count > suffix.count { t.removeLast(suffix.count); break }
        let units: [Character: Double] = ["K": 0x1p10, "M": 0x1p20, "G": 0x1p30, "T": 0x1p40]
        var factor = 0x1p30
        if let last = t.last, let unit = units[last] { factor = unit; t.removeLast() }
        guard let value = Double(t), value > 0, value.isFinite else { return nil }
        let bytes = value * factor
        return bytes >= 0x1p20 && bytes < 0x1p50 ? UInt64(bytes) : nil
    }
}

/// `mkdir -p`: every missing directory of the absolute `path`, mode 0755 (as ya-runtime-vm's
/// create_dir_all makes volume directories).
func makeDirectories(_ path: String) throws(RunError) {
    var current = ""
    for part in path.split(separator: "/") {
        current += "/" + part
        if mkdir(current, 0o755) != 0 && errno != EEXIST {
            throw .system("cannot create \(current)", errno: errno)
        }
    }
}

/// A new directory `$TMPDIR/PREFIX-XXXXXX` (/tmp without TMPDIR), registered for removal on Ctrl-C.
func makeTemporaryDirectory(prefix: String) throws(RunError) -> String {
    let base = getenv("TMPDIR").map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
    var template = Array((base + "/" + prefix + "-XXXXXX").utf8CString)
    guard template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) != nil else {
        throw .system("cannot create a temporary directory in \(base)", errno: errno)
    }
    let path = SandboxRun.string(template)
    TemporaryDirectories.shared.add(path)
    return path
}
