// The image store: squashfs images written before, kept in the cache directory by the identity
// of the tree they hold (for a build, the step cache key of the target stage's layers, which
// names their content) and every setting that changes the squashfs. A rebuild whose steps all
// come from the step cache, or that changed only the configuration (a LABEL, CMD, ENV), has the
// same tree: its squashfs is copied from the store instead of being written again, and only the
// trailer (the configuration) is new. The copy is checked against the SHA-256 recorded with it;
// the SHA3-224 of the image (Golem's hash) continues from the hash state recorded at the
// squashfs's end, so the image is not read twice. A damaged entry is removed and the image is
// written as usual: nothing unverified reaches an image.
//
// An entry is a directory `images/<64 hex>` with `squashfs` (the image written then, whose first
// `squashfsSize` bytes are the squashfs; a hard link to that image when it is on the cache's
// filesystem, so the entry costs no space while the image exists) and `meta.json` (sizes, the
// writer's summary, the SHA-256 of the squashfs, the SHA3-224 state after it, and a checksum of
// all of it). Entries appear by rename of a complete `<key>.tmp-<pid>-<random>` directory;
// `gvmc prune` and the automatic collection remove them with the rest of the build cache.
import CDigest
import Foundation
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// The image store's entry for one tree and set of squashfs settings (`images/<key>`).
public struct ImageStoreEntry: Sendable {
    /// `images/<key>`.
    public let directory: String
    /// False (`--no-cache`): an image is stored, never taken from the store.
    public let reads: Bool

    /// The entry for a tree (`treeKey`) written with `options`; the key leaves out what does not
    /// change the squashfs (workers, the block store).
    public init(store: String, treeKey: String, options: SquashFSOptions, reads: Bool) {
        let c = options.compression
        let settings = [
            "gvmc image store 1", Self.writerIdentity, treeKey, c.algorithm.rawValue, c.level.map(String.init) ?? "default",
            String(options.blockSize), options.fixedTimestamp.map(String.init) ?? "file times",
            String(options.deduplicate), String(options.fragments), String(options.pad)
        ]
        directory = store + "/" + SHA256.hash(Array(settings.joined(separator: "\0").utf8)).hexString
        self.reads = reads
    }
}

extension ImageStoreEntry {
    /// The program writing (its size, time and inode): a gvmc that writes squashfs or boot files
    /// differently never takes another one's entries.
    static let writerIdentity: String = {
        var st = stat()
        guard stat("/proc/self/exe", &st) == 0 else { return "unknown writer \(UInt64.random(in: 0...UInt64.max))" }
        return "\(st.st_size) \(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec) \(st.st_ino)"
    }()
}

struct StoredImage: Codable {
    static let version = 2
    var version = Self.version
    var squashfsSHA256: String
    /// The SHA3-224 context after the squashfs's bytes, hex.
    var sha3State: String
    /// What the writer reported (its `fileSize` is the squashfs's length).
    var summary: SquashFSSummary
    /// SHA-256 of everything else (sorted-key JSON), so a damaged meta.json is not trusted.
    var checksum = ""

    var squashfsSize: UInt64 { summary.fileSize }

    func computedChecksum() -> String {
        var unsigned = self
        unsigned.checksum = ""
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return SHA256.hash(Array((try? encoder.encode(unsigned)) ?? Data())).hexString
    }

    init(summary: SquashFSSummary, sha256: String, sha3: SHA3_224) {
        self.summary = summary; squashfsSHA256 = sha256; sha3State = sha3.state.hexString
        checksum = computedChecksum()
    }
}

enum ImageStore {
    /// The entry's squashfs and what was recorded with it; nil when absent or damaged (a damaged
    /// entry is removed).
    static func load(_ entry: ImageStoreEntry) -> (path: String, meta: StoredImage, sha3: SHA3_224)? {
        guard entry.reads, access(entry.directory, F_OK) == 0 else { return nil }
        guard let data = FileManager.default.contents(atPath: entry.directory + "/meta.json") else {
            discard(entry)
            return nil
        }
        guard let meta = try? JSONDecoder().decode(StoredImage.self, from: data), meta.version == StoredImage.version,
            meta.checksum == meta.computedChecksum(), let sha3 = SHA3_224(state: hexBytes(meta.sha3State))
        else {
            discard(entry)
            return nil
        }
        return (entry.directory + "/squashfs", meta, sha3)
    }

    /// Removes a damaged entry (renamed away first, so no reader sees half of it).
    static func discard(_ entry: ImageStoreEntry) {
        let doomed = entry.directory + ".tmp-\(getpid())-bad"
        if rename(entry.directory, doomed) == 0 {
            unlink(doomed + "/squashfs"); unlink(doomed + "/meta.json"); rmdir(doomed)
        }
    }

    /// Records the image just written (`imagePath`, still open as `fd`) as the entry: a hard
    /// link to it, or a copy of its squashfs where no link can be made. Best effort.
    static func save(_ entry: ImageStoreEntry, imagePath: String, fd: Int32, meta: StoredImage) {
        let parent = (entry.directory as NSString).deletingLastPathComponent
        guard makeDirectories(parent), access(entry.directory, F_OK) != 0 else { return }
        let temp = entry.directory + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(temp, 0o700) == 0 else { return }
        var ok = link(imagePath, temp + "/squashfs") == 0 || copyPrefix(fd, size: meta.squashfsSize, to: temp + "/squashfs")
        if ok, let json = try? JSONEncoder().encode(meta) {
            ok = FileManager.default.createFile(atPath: temp + "/meta.json", contents: json)
        }
        if !ok || rename(temp, entry.directory) != 0 {
            unlink(temp + "/squashfs"); unlink(temp + "/meta.json"); rmdir(temp)
        }
    }

    static func copyPrefix(_ fd: Int32, size: UInt64, to path: String) -> Bool {
        let out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard out >= 0 else { return false }
        defer { close(out) }
        var ok = true
        var offset: UInt64 = 0
        let failed = GVMIImageWriter.forEachChunk(fd: fd, size: size) { block in
            var done = 0
            while ok && done < block.count {
                let n = pwrite(out, block.baseAddress! + done, block.count - done, off_t(offset) + off_t(done))
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { ok = false } else { done += n }
            }
            offset += UInt64(block.count)
        }
        return ok && failed == 0
    }

    static func hexBytes(_ text: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = text.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let hi = hexValue(a), let lo = hexValue(b) else { return [] }
            out.append(hi << 4 | lo)
        }
        return out
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }
}

func makeDirectories(_ path: String) -> Bool {
    var current = ""
    for part in path.split(separator: "/") {
        current += "/" + part
        // 0700 as XDG asks for directories it creates (the cache's areas are the user's alone).
        if mkdir(current, 0o700) != 0 && errno != EEXIST { return false }
    }
    return true
}
