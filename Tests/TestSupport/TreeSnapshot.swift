// Shared by the test targets (TestSupport): a comparable description of a directory tree (types, modes, owners, sizes,
// content hashes, symlink targets, devices, mtimes, xattrs, hardlink groups), and helpers to run
// the real readers (unsquashfs, the kernel's squashfs driver through a loop mount).
import CSystem
import Foundation
import SquashFS
#if canImport(Testing)
import Testing
#endif
#if canImport(Glibc)
import Glibc
#endif

public struct EntrySnapshot: Equatable, CustomStringConvertible {
    public var type: String
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: Int64
    public var content: String
    public var target: String
    public var rdev: UInt64
    public var mtime: Int64
    public var xattrs: [String: [UInt8]]
    /// Index of the hardlink group (0 when not hardlinked).
    public var linkGroup: Int

    public var description: String {
        "\(type) \(String(mode, radix: 8)) \(uid):\(gid) size=\(size) mtime=\(mtime) \(content.prefix(12)) \(target) rdev=\(rdev) xattrs=\(xattrs.keys.sorted()) link=\(linkGroup)"
    }
}

public enum TreeSnapshot {
    /// Snapshot of every entry below `root`, keyed by relative path (the root itself is "/").
    public static func take(_ root: String, contents: Bool = true, mtimes: Bool = true) throws -> [String: EntrySnapshot] {
        var result: [String: EntrySnapshot] = [:]
        var groups: [String: Int] = [:]
        // Paths are kept as bytes: names need not be UTF-8.
        func visit(_ path: [UInt8], _ rel: [UInt8]) throws {
            let cpath = path.map { CChar(bitPattern: $0) } + [0]
            let display = String(decoding: path, as: UTF8.self)
            var st = stat()
            guard lstat(cpath, &st) == 0 else { throw POSIXError(.init(rawValue: errno)!, userInfo: ["path": display]) }
            let fmt = st.st_mode & S_IFMT
            var e = EntrySnapshot(
                type: "?", mode: st.st_mode & 0o7777, uid: st.st_uid, gid: st.st_gid, size: 0,
                content: "", target: "", rdev: 0, mtime: mtimes ? Int64(st.st_mtim.tv_sec) : 0,
                xattrs: xattrs(cpath), linkGroup: 0)
            switch fmt {
            case S_IFDIR: e.type = "dir"
            case S_IFREG:
                e.type = "file"; e.size = Int64(st.st_size)
                if contents { e.content = try hashFile(cpath) }
                if st.st_nlink > 1 {
                    let key = "\(st.st_dev):\(st.st_ino)"
                    e.linkGroup = groups[key] ?? (groups.count + 1)
                    groups[key] = e.linkGroup
                }
            case S_IFLNK:
                e.type = "symlink"
                var buf = [CChar](repeating: 0, count: 4097)
                let n = readlink(cpath, &buf, 4096)
                e.target = String(decoding: buf[0..<max(0, n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            case S_IFCHR: e.type = "char"; e.rdev = UInt64(st.st_rdev)
            case S_IFBLK: e.type = "block"; e.rdev = UInt64(st.st_rdev)
            case S_IFIFO: e.type = "fifo"
            case S_IFSOCK: e.type = "socket"
            default: e.type = "unknown"
            }
            result[rel.isEmpty ? "/" : rel.map { $0 < 0x80 ? String(UnicodeScalar($0)) : "\\x" + String($0, radix: 16) }.joined()] = e
            if fmt == S_IFDIR {
                guard let dir = opendir(cpath) else { throw POSIXError(.init(rawValue: errno)!) }
                var names: [[UInt8]] = []
                while let entry = readdir(dir) {
                    let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix(while: { $0 != 0 })) }
                    if name != [0x2E] && name != [0x2E, 0x2E] { names.append(name) }
                }
                closedir(dir)
                for name in names.sorted(by: { $0.lexicographicallyPrecedes($1) }) { try visit(path + [0x2F] + name, rel + [0x2F] + name) }
            }
        }
        try visit(Array(root.utf8), [])
        return result
    }

    static func hashFile(_ path: [CChar]) throws -> String {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        defer { close(fd) }
        var sha = SHA256()
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            buffer.withUnsafeBytes { sha.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
        return sha.finalize().hexString
    }

    static func xattrs(_ path: [CChar]) -> [String: [UInt8]] {
        var names = [CChar](repeating: 0, count: 65536)
        let n = gvmc_llistxattr(path, &names, names.count)
        guard n > 0 else { return [:] }
        var out: [String: [UInt8]] = [:]
        var start = 0
        for i in 0..<n where names[i] == 0 {
            let name = String(decoding: names[start..<i].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            start = i + 1
            var value = [UInt8](repeating: 0, count: 65536)
            let v = gvmc_lgetxattr(path, name, &value, value.count)
            if v >= 0 { out[name] = Array(value[0..<v]) }
        }
        return out
    }

    /// Differences between two snapshots, readable in a test failure.
    public static func diff(_ a: [String: EntrySnapshot], _ b: [String: EntrySnapshot]) -> [String] {
        var out: [String] = []
        for key in Set(a.keys).union(b.keys).sorted() {
            switch (a[key], b[key]) {
            case (nil, let y?): out.append("only in image: \(key) \(y)")
            case (let x?, nil): out.append("missing from image: \(key) \(x)")
            case (let x?, let y?) where x != y: out.append("\(key): \(x)  !=  \(y)")
            default: break
            }
        }
        return out
    }
}

public enum Tools {
    public static func run(_ args: [String]) -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { return (-1, "\(error)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    public static func exists(_ tool: String) -> Bool { run(["which", tool]).status == 0 }

    public static let hasUnsquashfs = exists("unsquashfs")

    /// Root and a working loop device: the kernel's own squashfs driver can be used.
    public static let canLoopMount: Bool = {
        guard getuid() == 0 else { return false }
        return FileManager.default.fileExists(atPath: "/dev/loop-control")
    }()
}

/// A scratch directory removed at the end of the test.
public final class Scratch {
    public let path: String
    public init() {
        var template = Array("/tmp/gvmc-test-XXXXXX".utf8CString)
        path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
    deinit { _ = Tools.run(["rm", "-rf", path]) }
    public func sub(_ name: String) -> String { path + "/" + name }
}

/// Packs `root` into a squashfs at `image` with the writer under test.
@discardableResult
public func pack(_ root: String, to image: String, _ configure: (inout SquashFSOptions) -> Void = { _ in }) throws -> SquashFSSummary {
    var options = SquashFSOptions()
    configure(&options)
    let output = try OutputFile(target: image)
    let writer = try SquashFSWriter(output: output, options: options)
    do {
        try DirectoryTreeReader(rootPath: root).add(to: writer)
        let summary = try writer.finish()
        try output.commit()
        return summary
    } catch {
        output.discard()
        throw error
    }
}

// The read-back checks record their findings with Swift Testing, which only test builds have
// (a release build of the package compiles this target too).
#if canImport(Testing)
/// Extracts with unsquashfs and compares with the source tree.
public func expectUnsquashfsMatches(
    _ image: String, _ source: String, scratch: Scratch, sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let out = scratch.sub("unsquashfs-\(UUID().uuidString)")
    let r = Tools.run(["unsquashfs", "-no-progress", "-d", out, image])
    #expect(r.status == 0, "unsquashfs failed: \(r.output)", sourceLocation: sourceLocation)
    let expected = try TreeSnapshot.take(source)
    let actual = try TreeSnapshot.take(out)
    let differences = TreeSnapshot.diff(expected, actual)
    #expect(
        differences.isEmpty, "unsquashfs tree differs:\n\(differences.prefix(20).joined(separator: "\n"))", sourceLocation: sourceLocation)
}

/// Mounts with the kernel's squashfs driver and compares with the source tree.
public func expectKernelMountMatches(
    _ image: String, _ source: String, scratch: Scratch, contents: Bool = true,
    sourceLocation: SourceLocation = #_sourceLocation
) throws {
    let mountPoint = scratch.sub("mnt-\(UUID().uuidString)")
    try FileManager.default.createDirectory(atPath: mountPoint, withIntermediateDirectories: true)
    let r = Tools.run(["mount", "-o", "loop,ro", "-t", "squashfs", image, mountPoint])
    #expect(
        r.status == 0, "kernel mount failed: \(r.output) \(Tools.run(["sh", "-c", "dmesg | tail -3"]).output)",
        sourceLocation: sourceLocation)
    guard r.status == 0 else { return }
    defer { _ = Tools.run(["umount", mountPoint]) }
    let expected = try TreeSnapshot.take(source, contents: contents)
    let actual = try TreeSnapshot.take(mountPoint, contents: contents)
    let differences = TreeSnapshot.diff(expected, actual)
    #expect(differences.isEmpty, "mounted tree differs:\n\(differences.prefix(20).joined(separator: "\n"))", sourceLocation: sourceLocation)
}
#endif

/// glibc's makedev (a macro Swift does not import).
public func makedev(_ major: UInt32, _ minor: UInt32) -> dev_t {
    dev_t((UInt64(major & 0xFFF) << 8) | (UInt64(major & ~0xFFF) << 32) | UInt64(minor & 0xFF) | (UInt64(minor & ~0xFF) << 12))
}
