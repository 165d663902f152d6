// Options shared by every command that writes an image (pack, convert, build).
import BuildCache
import ArgumentParser
import Build
import DockerfileSyntax
import Foundation
import GVMI
import ImageSpec
import SquashFS

extension Compression: ExpressibleByArgument {}

struct ImageOptions: ParsableArguments {
    @Option(help: "Squashfs compressor: gzip (default), xz, lz4, lzo, zstd (zstd cannot be read by Golem providers).")
    var compression: Compression = .gzip

    @Option(
        help:
            "Compression level (gzip 1-9, default 9 like mksquashfs, 6 is about 2x faster; xz 0-9; lz4 1-12 = LZ4HC; lzo 1-9 = liblzo2's lzo1x_999 at that level, as mksquashfs; without a level lzo uses gvmc's own encoder, faster than lzo1x_999 level 8 and not larger; zstd 1-22)."
    )
    var compressionLevel: Int?

    @Option(help: "Squashfs block size in bytes or with K/M suffix (4K-1M, power of two).")
    var blockSize: String = "128K"

    @Option(help: "Set every timestamp to this Unix time (default: $SOURCE_DATE_EPOCH when set).")
    var timestamp: Int64?

    @Option(help: "Compression threads (default: one per core).")
    var jobs: Int?

    @Option(help: "Also write a JSON summary of the image (path, size, sha3_224, sha256, compression, source).")
    var extraJsonInfoPath: String?

    @Flag(
        help:
            "Compress every block, without the cache's block store (which keeps compressed blocks for the next write) and, for build, without the image store (whole squashfs images of unchanged trees); the output is the same either way."
    )
    var noBlockStore = false

    /// Writes the `--extra-json-info-path` summary (to a temporary file, then renamed).
    /// Fails before any work when --extra-json-info-path cannot be written (a missing or
    /// read-only directory), instead of after the image is made.
    func checkInfoPath() throws {
        guard let path = extraJsonInfoPath else { return }
        let probe = path + ".tmp-\(getpid())"
        let fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write --extra-json-info-path \(path): \(String(cString: strerror(errno)))") }
        close(fd)
        unlink(probe)
    }

    /// Runs what follows a written image (checks, the info file); when any of it fails the image
    /// is removed, so a failed command leaves no output behind.
    func completing(_ r: GVMIResult, _ body: () throws -> Void) throws {
        do { try body() } catch { unlink(r.path); throw error }
    }

    func writeInfo(_ r: GVMIResult, source: String, extra: [String: String] = [:]) throws {
        guard let path = extraJsonInfoPath else { return }
        let more = extra.keys.sorted().map { ",\(SyntaxJSON.quote($0)):\(SyntaxJSON.quote(extra[$0]!))" }.joined()
        let json =
            "{\"path\":\(SyntaxJSON.quote(r.path)),\"size\":\(r.size),\"sha3_224\":\"\(r.sha3_224)\",\"sha256\":\"\(r.sha256)\",\"compression\":\"\(r.compression.rawValue)\",\"source\":\(SyntaxJSON.quote(source))\(more)}\n"
        let temporary = path + ".tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ValidationError("cannot write --extra-json-info-path \(path): \(String(cString: strerror(errno)))") }
        let bytes = Array(json.utf8)
        let written = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        let writeErrno = errno
        guard close(fd) == 0, written == bytes.count, rename(temporary, path) == 0 else {
            let e = written == bytes.count ? errno : writeErrno
            unlink(temporary)
            throw ValidationError("cannot write --extra-json-info-path \(path): \(String(cString: strerror(e)))")
        }
    }

    /// The writer's settings; with a cache directory, the block store in it (`blocks/`), unless
    /// --no-block-store; `readStore` false only fills it (--no-cache).
    func squashFSOptions(cacheDirectory: String? = nil, readStore: Bool = true) throws -> SquashFSOptions {
        var o = SquashFSOptions()
        if let cacheDirectory, !noBlockStore {
            o.blockStore = CacheLayout(cacheDirectory).blocks
            o.blockStoreReads = readStore
        }
        o.compression = CompressionOptions(compression, level: compressionLevel)
        guard let size = parseSize(blockSize) else { throw ValidationError("--block-size \(blockSize): not a size") }
        o.blockSize = size
        if let timestamp {
            o.fixedTimestamp = timestamp
        } else if let epoch = ProcessInfo.processInfo.environment["SOURCE_DATE_EPOCH"], !epoch.isEmpty {
            guard let t = Int64(epoch) else { throw ValidationError("SOURCE_DATE_EPOCH=\(epoch) is not a Unix time") }
            o.fixedTimestamp = t
        }
        if let jobs {
            guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
            o.workers = jobs
        }
        do { try o.validate() } catch { throw ValidationError(error.description) }
        if !compression.readableByGolem {
            printError(
                "warning: zstd-compressed images cannot be mounted by Golem providers' kernels (no squashfs zstd support); use gzip, xz, lz4 or lzo"
            )
        }
        return o
    }
}

func parseSize(_ text: String) -> Int? {
    let t = text.uppercased()
    let multipliers: [(String, Int)] = [("KIB", 1024), ("MIB", 1 << 20), ("K", 1024), ("M", 1 << 20)]
    for (suffix, m) in multipliers where t.hasSuffix(suffix) {
        return Int(t.dropLast(suffix.count)).map { $0 * m }
    }
    return Int(t)
}

struct ConfigOptions: ParsableArguments {
    @Option(help: "A ContainerConfig JSON file to use as the image metadata (flags below override it).")
    var config: String?

    @Option(help: "An environment variable KEY=VALUE (repeatable).")
    var env: [String] = []

    @Option(help: "The working directory of processes in the VM.")
    var workdir: String?

    @Option(help: "A volume path (repeatable); files are transferred only through volumes.")
    var volume: [String] = []

    @Option(help: "The entrypoint, as a JSON array or a single program path.")
    var entrypoint: String?

    @Option(help: "The command, as a JSON array or a single word.")
    var cmd: String?

    @Option(help: "The user as numeric uid:gid.")
    var user: String?

    @Option(help: "A label KEY=VALUE (repeatable).")
    var label: [String] = []

    func containerConfig() throws -> ContainerConfig {
        var c = ContainerConfig()
        if let config {
            guard let data = FileManager.default.contents(atPath: config) else {
                throw ValidationError("cannot read --config \(config)")
            }
            c = try ContainerConfig(json: Array(data), document: "--config \(config)")
        }
        for e in env {
            guard e.contains("=") else { throw ValidationError("--env \(e): expected KEY=VALUE") }
            c.env = (c.env ?? []).filter { !$0.hasPrefix(e.split(separator: "=")[0] + "=") } + [e]
        }
        if let workdir { c.workingDir = workdir }
        if !volume.isEmpty {
            for v in volume where !v.hasPrefix("/") || v.hasSuffix("/") && v != "/" {
                throw ValidationError("--volume \(v): Golem needs an absolute path without a trailing slash")
            }
            c.volumes = Array(Set((c.volumes ?? []) + volume)).sorted()
        }
        if let entrypoint { c.entrypoint = try commandWords(entrypoint, flag: "--entrypoint") }
        if let cmd { c.cmd = try commandWords(cmd, flag: "--cmd") }
        if let user {
            let parts = user.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 2, UInt32(parts[0]) != nil, UInt32(parts[1]) != nil else {
                throw ValidationError("--user \(user): Golem's runtime needs numeric uid:gid")
            }
            c.user = user
        }
        for l in label {
            guard let eq = l.firstIndex(of: "=") else { throw ValidationError("--label \(l): expected KEY=VALUE") }
            c.labels = (c.labels ?? [:]).merging([String(l[..<eq]): String(l[l.index(after: eq)...])]) { $1 }
        }
        return c
    }
}

func commandWords(_ text: String, flag: String) throws -> [String] {
    if text.hasPrefix("[") {
        do { return try JSONDocument.decode([String].self, from: Array(text.utf8), document: flag) } catch {
            throw ValidationError("\(flag) \(text): not a JSON array of strings (\(error.reason))")
        }
    }
    return [text]
}

/// The line every image-writing command prints.
func printImageResult(_ r: GVMIResult) {
    print("\(r.path)  size \(r.size) bytes  sha3-224 \(r.sha3_224)")
    printError(
        "  \(r.compression.rawValue), \(r.squashfs.inodes) inodes (\(r.squashfs.files) files, \(r.squashfs.directories) directories), \(r.squashfs.fragments) fragments, \(r.squashfs.duplicateFiles) duplicate files, sha256 \(r.sha256)"
    )
}

/// Writes a `--metadata-file` (docker buildx's flag) of build, convert or push, atomically.
func writeMetadataFile(_ metadata: ImageMetadata, to path: String) throws {
    do { try Data(metadata.fileBytes()).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
        printError("error: --metadata-file \(path): \(error.localizedDescription)")
        throw ExitCode(1)
    }
}
