// Paths inside a stage's root filesystem, resolved on the host as a process chrooted there
// would see them (COPY/ADD/WORKDIR destinations, COPY sources and their wildcards).
import BuildCache
import BuildPlan
import Layers
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// `path` inside `root` with the symlinks on the way resolved as they would be after a chroot to
/// `root` (absolute targets start again at the root, `..` stops at it), as BuildKit resolves COPY
/// destinations and WORKDIR. The last component is followed only when it leads to a directory
/// (a symlink to a file is a name to replace). More than 40 symlinks on the way is an error, as
/// for the kernel (ELOOP): the path that comes out must hold no symlink but its last component,
/// or `root + path` would follow one on the host.
func scopedPath(_ root: String, _ path: String, hops: Int = 0) throws(ExecutorError) -> String {
    var resolved: [String] = []
    var pending = Array(path.split(separator: "/").map(String.init).reversed())
    var hops = hops
    while let component = pending.popLast() {
        if component == "." { continue }
        if component == ".." { _ = resolved.popLast(); continue }
        let candidate = resolved + [component]
        let full = root + "/" + candidate.joined(separator: "/")
        var st = stat()
        guard lstat(full, &st) == 0, st.st_mode & S_IFMT == S_IFLNK else {
            resolved = candidate
            continue
        }
        guard hops < LayerTree.maxSymlinkHops else { throw ExecutorError("\(path): too many levels of symbolic links") }
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = readlink(full, &buffer, Int(PATH_MAX))
        guard n > 0 else { resolved = candidate; continue }
        let target = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        hops += 1
        if pending.isEmpty {
            let through = try scopedPath(
                root, target.hasPrefix("/") ? target : "/" + (resolved + [target]).joined(separator: "/"), hops: hops)
            if isDirectory(root + through, follow: false) { return through }
            resolved = candidate
            continue
        }
        if target.hasPrefix("/") { resolved = [] }
        pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
    }
    return "/" + resolved.joined(separator: "/")
}

/// mkdir -p inside the root; symlinks on the way are followed inside it (`scopedPath`).
/// Directories made get `owner` (nil: they stay root's).
func makeDirectories(_ root: String, _ path: String, owner: Ownership?) throws(ExecutorError) {
    var current = root
    for component in try scopedPath(root, path).split(separator: "/") {
        current += "/" + component
        var st = stat()
        if lstat(current, &st) == 0 {
            if st.st_mode & S_IFMT == S_IFDIR { continue }
            throw ExecutorError("\(path): \(current.dropFirst(root.count)) exists and is not a directory")
        }
        guard mkdir(current, 0o755) == 0 else { throw .errno("mkdir", String(current.dropFirst(root.count))) }
        if let owner { _ = RecordedOwner.set(current, uid: owner.uid, gid: owner.gid) }
    }
}

func parentOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return "/" }
    return String(path[..<slash])
}

func isDirectory(_ path: String, follow: Bool = true) -> Bool {
    var st = stat()
    let rc = follow ? stat(path, &st) : lstat(path, &st)
    return rc == 0 && st.st_mode & S_IFMT == S_IFDIR
}

/// Relative paths under `root` matching `pattern` (filepath.Match per component); the pattern
/// itself when it has no wildcard and exists.
func expandWildcards(_ root: String, _ pattern: String) -> [String] {
    let components = pattern.split(separator: "/").map(String.init)
    if components.isEmpty { return [""] }
    var current = [""]
    for component in components {
        var next: [String] = []
        let wild = component.contains { "*?[".contains($0) }
        for base in current {
            let dir = base.isEmpty ? root : root + "/" + base
            if !wild {
                let candidate = base.isEmpty ? component : base + "/" + component
                var st = stat()
                if lstat(root + "/" + candidate, &st) == 0 { next.append(candidate) }
                continue
            }
            guard let names = listDirectory(dir) else { continue }
            for name in names.sorted() where DockerIgnore.glob(Array(component.unicodeScalars)[...], Array(name.unicodeScalars)[...]) {
                next.append(base.isEmpty ? name : base + "/" + name)
            }
        }
        current = next
    }
    return current
}
