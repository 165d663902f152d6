// The kernel and the modules the guest needs (virtio PCI and block, squashfs, overlay, 9p over
// virtio), found with their dependencies in modules.dep, in the order they must be loaded.
#if canImport(Glibc)
import Glibc
#endif

/// The guest's kernel and the module files it loads, in load order.
public struct GuestKernel: Sendable {
    public var kernel: String
    public var modulesDirectory: String
    /// Module files (paths under `modulesDirectory`), each after the ones it depends on.
    public var modules: [String]

    /// What the guest loads, by module name; their dependencies come from modules.dep.
    public static let needed = ["virtio_pci", "virtio_blk", "squashfs", "overlay", "9pnet_virtio", "9p"]

    /// `kernel`/`modules` as given, else the host's newest /boot/vmlinuz-* and its /lib/modules.
    public static func locate(kernel: String?, modules: String?) throws(RunError) -> GuestKernel {
        var kernelPath = kernel
        if kernelPath == nil {
            let candidates = (try? listDirectory("/boot"))?.filter { $0.hasPrefix("vmlinuz-") }.sorted() ?? []
            let running = "vmlinuz-" + release()
            kernelPath = (candidates.contains(running) ? running : candidates.last).map { "/boot/" + $0 }
        }
        guard let kernelPath, access(kernelPath, R_OK) == 0 else {
            throw .missingTool(
                kernel ?? "a kernel in /boot", package: "linux-image-amd64",
                purpose:
                    "--vm boots it; or give --kernel FILE --modules DIR, e.g. from `apt-get download linux-image-amd64` unpacked with dpkg-deb -x"
            )
        }
        let version = kernelPath.split(separator: "/").last.map { String($0.dropFirst("vmlinuz-".count)) } ?? ""
        let dir = modules ?? "/lib/modules/" + version
        guard let dep = readText(dir + "/modules.dep") else {
            throw .vm(
                "\(dir)/modules.dep is missing: --vm needs the kernel's modules with their dependency list (give --modules DIR, or run depmod -b ROOT VERSION on an unpacked kernel package)"
            )
        }
        return GuestKernel(kernel: kernelPath, modulesDirectory: dir, modules: try order(needed, modulesDep: dep))
    }

    /// The module files for `names` and their dependencies, dependencies first, each once.
    /// A module built into the kernel has no line: nothing to load.
    static func order(_ names: [String], modulesDep: String) throws(RunError) -> [String] {
        var deps: [String: [String]] = [:]
        var byName: [String: String] = [:]
        for line in modulesDep.split(separator: "\n") {
            guard let colon = line.firstIndex(of: ":") else { continue }
            let file = String(line[..<colon])
            deps[file] = line[line.index(after: colon)...].split(separator: " ").map(String.init)
            byName[moduleName(file)] = file
        }
        var ordered: [String] = []
        var seen = Set<String>()
        func visit(_ file: String) {
            guard seen.insert(file).inserted else { return }
            // modules.dep lists a module's dependencies nearest first: load the farthest first.
            for d in (deps[file] ?? []).reversed() { visit(d) }
            ordered.append(file)
        }
        for name in names {
            if let file = byName[name] { visit(file) }
        }
        return ordered
    }

    /// "kernel/fs/9p/9p.ko" (or .ko.xz, .ko.zst) → "9p"; dashes and underscores are the same.
    static func moduleName(_ file: String) -> String {
        let base = file.split(separator: "/").last.map(String.init) ?? file
        return String(base.split(separator: ".").first ?? "").replacingDashes
    }

    static func release() -> String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: &u.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
    }

    static func listDirectory(_ path: String) throws -> [String] {
        guard let d = opendir(path) else { return [] }
        defer { closedir(d) }
        var out: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: &e.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            if name != "." && name != ".." { out.append(name) }
        }
        return out
    }
}

extension String {
    var replacingDashes: String { String(map { $0 == "-" ? "_" : $0 }) }
}

/// A whole small file as text, nil when it cannot be read.
func readText(_ path: String) -> String? {
    guard let bytes = readBytes(path) else { return nil }
    return String(decoding: bytes, as: UTF8.self)
}

/// A whole file's bytes, nil when it cannot be read.
func readBytes(_ path: String) -> [UInt8]? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var out: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 1 << 20)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n < 0 && errno == EINTR { continue }
        if n < 0 { return nil }
        if n == 0 { return out }
        out += buffer[0..<n]
    }
}
