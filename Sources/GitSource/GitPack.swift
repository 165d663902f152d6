// The packfile of a git fetch, on disk rather than in memory: the upload-pack response is
// demultiplexed as it arrives (UploadPackStream) into an unnamed temporary file, which PackFile
// maps and indexes the way `git index-pack` does — every object inflated once in pack order to
// learn where it ends and what its SHA-1 is, deltas applied against their bases — keeping only
// each object's place, type and size, plus a bounded cache of recently built objects (the bases
// of the next deltas). Objects are rebuilt from the file when asked for again; large blobs
// are inflated straight into the file being checked out. Memory stays bounded by the cache,
// the largest delta chain's objects and the largest blob that is stored as a delta, not by the
// size of the repository.
import CZlib
import Crypto
import Foundation
import HTTPTransport
import SquashFS

/// The upload-pack response as it arrives: pkt-lines (shallow, NAK/ACK), then either side-band
/// packets (band 1: pack data, 2: progress, 3: an error) or, without side-band, the raw pack.
/// Pack bytes go to `fd`.
struct UploadPackStream {
    let fd: Int32
    let sideBand: Bool
    var pending: [UInt8] = []
    var raw = false
    var shallow: [String] = []
    var failure: GitError?
    var packBytes = 0
    var meter = DownloadLimit.Meter()

    init(fd: Int32, sideBand: Bool) { self.fd = fd; self.sideBand = sideBand }

    /// Takes the next piece of the response; false (with `failure`) stops the transfer.
    mutating func feed(_ chunk: UnsafeRawBufferPointer) -> Bool {
        if raw { return emit(chunk) }
        pending += chunk
        var i = 0
        defer { if i > 0 { pending.removeFirst(i) } }
        while pending.count - i >= 4 {
            if !sideBand && pending[i..<i + 4].elementsEqual(Array("PACK".utf8)) {
                raw = true
                let rest = pending[i...]
                i = pending.count
                return rest.withUnsafeBytes { emit($0) }
            }
            guard let n = Int(String(decoding: pending[i..<i + 4], as: UTF8.self), radix: 16) else {
                return fail("malformed upload-pack response")
            }
            if n == 0 { i += 4; continue }
            guard n >= 5 else { return fail("malformed upload-pack response") }
            guard pending.count - i >= n else { break }
            let payload = pending[i + 4..<i + n]
            i += n
            if payload.starts(with: Array("shallow ".utf8)) {
                let id = String(decoding: payload.dropFirst(8), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                guard id.count == 40, id.allSatisfy(\.isHexDigit) else { return fail("malformed upload-pack response") }
                shallow.append(id)
            } else if sideBand, let band = payload.first, !payload.starts(with: Array("NAK".utf8)),
                !payload.starts(with: Array("ACK".utf8)),
                !payload.starts(with: Array("unshallow".utf8))
            {
                if band == 1, !payload.dropFirst().withUnsafeBytes({ emit($0) }) { return false }
                if band == 3 { return fail("the server: \(String(decoding: payload.dropFirst(), as: UTF8.self))") }
            } else if String(decoding: payload, as: UTF8.self).hasPrefix("ERR ") {
                return fail("the server: \(String(decoding: payload, as: UTF8.self))")
            }
        }
        return true
    }

    mutating func fail(_ message: String) -> Bool {
        failure = GitError(message)
        return false
    }

    mutating func emit(_ bytes: UnsafeRawBufferPointer) -> Bool {
        if let over = meter.add(bytes.count, fd: fd) { return fail("the packfile stopped: \(over)") }
        if let problem = writeAll(fd, bytes) { return fail("writing the packfile: \(problem)") }
        packBytes += bytes.count
        return true
    }
}

/// A packfile (version 2 or 3) mapped from a file and indexed; objects built on demand.
final class PackFile {
    struct Info { var offset: Int; var type: Int; var size: Int }
    /// A record as stored: its kind (1–4, or 6/7 for deltas), the size in its header, where its
    /// zlib stream starts and ends, and the base of a delta.
    struct Record { var offset: Int; var kind: Int; var size: Int; var data: Int; var end: Int; var baseOffset: Int; var baseID: String? }

    let fd: Int32
    let base: UnsafePointer<UInt8>
    let size: Int
    private(set) var records: [Record] = []
    private var recordAt: [Int: Int] = [:]
    /// Every object by id.
    private(set) var infos: [String: Info] = [:]
    private var idAt: [Int: String] = [:]
    /// Recently built objects by offset, oldest first out, up to cacheLimit bytes.
    private var cache: [Int: (type: Int, data: [UInt8])] = [:]
    private var cacheOrder: [Int] = []
    private var cacheHead = 0
    private var cacheBytes = 0
    let cacheLimit: Int
    /// The largest object built in memory (a delta's target): a delta may claim far more than
    /// its bytes seem to hold (copies of the same base range), so its claim is bounded here.
    let objectLimit: Int
    /// A header byte and the shortest zlib stream (2 header bytes, an empty block, Adler-32).
    static let smallestObject = 9
    /// What one byte of deflate can become at most (258-byte matches in 2 bits: zlib's 1032:1).
    static let deflateRatio = 1032

    /// Maps the pack in `fd` (which stays open until deinit), checks its trailer checksum and
    /// indexes every object.
    init(fd: Int32, cacheLimit: Int = 64 << 20, objectLimit: Int = 1 << 31) throws {
        self.fd = fd
        self.cacheLimit = cacheLimit
        self.objectLimit = objectLimit
        // The pack owns `fd`: until every property is set, deinit would not run if init threw,
        // so these early failures close it themselves.
        var st = stat()
        guard fstat(fd, &st) == 0 else { let e = errno; close(fd); throw GitError(.system(operation: "", path: "the packfile", errno: e)) }
        size = Int(st.st_size)
        guard size >= 32 else { close(fd); throw GitError("not a packfile (\(size) bytes)") }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            let e = errno
            close(fd)
            throw GitError(.system(operation: "mapping", path: "the packfile", errno: e))
        }
        base = UnsafePointer(mapped.assumingMemoryBound(to: UInt8.self))
        try index()
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), size)
        close(fd)
    }

    var bytes: UnsafeBufferPointer<UInt8> { UnsafeBufferPointer(start: base, count: size) }
    var checksum: [UInt8] { Array(bytes[(size - 20)...]) }

    func be32(_ at: Int) -> UInt32 {
        UInt32(base[at]) << 24 | UInt32(base[at + 1]) << 16 | UInt32(base[at + 2]) << 8 | UInt32(base[at + 3])
    }

    // MARK: indexing

    private func index() throws {
        guard bytes.starts(with: Array("PACK".utf8)) else { throw GitError("not a packfile") }
        let version = be32(4), count = Int(be32(8))
        guard version == 2 || version == 3 else { throw GitError("packfile version \(version)") }
        // The smallest object is a header byte and an 8-byte zlib stream: a count the bytes
        // cannot hold is a lie (and would reserve memory for billions of records).
        guard count <= (size - 32) / Self.smallestObject else {
            throw GitError("the packfile claims \(count) objects, more than its \(size) bytes can hold")
        }
        // The trailer is the SHA-1 of everything before it.
        var whole = Insecure.SHA1()
        for start in stride(from: 0, to: size - 20, by: 8 << 20) {
            let end = min(size - 20, start + (8 << 20))
            whole.update(bufferPointer: UnsafeRawBufferPointer(start: base + start, count: end - start))
            release(from: start, to: end)
        }
        guard Array(whole.finalize()) == checksum else {
            throw GitError("the packfile's checksum does not match")
        }
        let limit = size - 20
        var i = 12
        var released = 0
        records.reserveCapacity(count)
        for _ in 0..<count {
            let start = i
            guard i < limit else { throw GitError("truncated packfile") }
            var c = Int(base[i]); i += 1
            let kind = (c >> 4) & 7
            var objectSize = c & 15, shift = 4
            while c & 0x80 != 0 {
                guard i < limit, shift < 60 else { throw GitError("truncated packfile") }
                c = Int(base[i]); i += 1
                objectSize |= (c & 0x7f) << shift; shift += 7
            }
            guard objectSize <= maxInflated(at: i) else {
                throw GitError(
                    "a packfile object at offset \(start) claims \(objectSize) bytes, more than the rest of the pack inflates to")
            }
            var record = Record(offset: start, kind: kind, size: objectSize, data: 0, end: 0, baseOffset: -1, baseID: nil)
            switch kind {
            case 1, 2, 3, 4:
                break
            case 6:  // OFS_DELTA: the base is `offset` bytes before this object
                guard i < limit else { throw GitError("truncated packfile") }
                c = Int(base[i]); i += 1
                var offset = c & 0x7f
                while c & 0x80 != 0 {
                    guard i < limit, offset < 1 << 48 else { throw GitError("truncated packfile") }
                    c = Int(base[i]); i += 1
                    offset = ((offset + 1) << 7) | (c & 0x7f)
                }
                guard offset > 0, offset <= start, recordAt[start - offset] != nil else {
                    throw GitError("a delta's base is missing from the packfile")
                }
                record.baseOffset = start - offset
            case 7:  // REF_DELTA: the base named by id (maybe later in the pack)
                guard i + 20 <= limit else { throw GitError("truncated packfile") }
                record.baseID = Array(bytes[i..<i + 20]).hexString
                i += 20
            default:
                throw GitError("packfile object of type \(kind)")
            }
            record.data = i
            // Where the zlib stream ends is known only by inflating it. Whole objects are
            // hashed as they inflate; deltas are kept for resolving below.
            if kind <= 4 {
                var hash = Insecure.SHA1()
                hash.update(data: Array("\(Self.typeName(kind)) \(objectSize)\0".utf8))
                let used = try inflate(at: i, expected: objectSize) { hash.update(bufferPointer: $0) }
                let id = Array(hash.finalize()).hexString
                infos[id] = Info(offset: start, type: kind, size: objectSize)
                idAt[start] = id
                i += used
            } else {
                i += try inflate(at: i, expected: objectSize) { _ in }
            }
            record.end = i
            recordAt[start] = records.count
            records.append(record)
            // Pages already read go back to the page cache (they are the file's, not memory
            // the process needs), so resident memory does not grow with the pack.
            if i - released > 8 << 20 { release(from: released, to: i); released = i }
        }
        release(from: 0, to: size)
        guard i == limit else { throw GitError("the packfile has \(limit - i) bytes after its last object") }
        try resolveDeltas()
    }

    /// Resolves every delta once, in dependency order as `git index-pack` does: the children of
    /// each base (OFS_DELTAs by its offset, REF_DELTAs by its id, wherever they are in the pack)
    /// are built from it while it is at hand, depth first. Bases waiting for their children are
    /// kept up to `cacheLimit` bytes; past that the oldest are dropped and rebuilt when needed.
    private func resolveDeltas() throws {
        var byOffset: [Int: [Int]] = [:], byID: [String: [Int]] = [:]
        var deltas = 0
        for (n, r) in records.enumerated() where r.kind >= 6 {
            deltas += 1
            if let id = r.baseID { byID[id, default: []].append(n) } else { byOffset[r.baseOffset, default: []].append(n) }
        }
        guard deltas > 0 else { return }
        // Taken once: an object stored twice still resolves its children once.
        func children(_ offset: Int, _ id: String) -> [Int] {
            (byOffset.removeValue(forKey: offset) ?? []) + (byID.removeValue(forKey: id) ?? [])
        }
        struct Frame { var offset: Int; var type: Int; var data: [UInt8]?; var children: [Int]; var next = 0 }
        var resolved = 0
        for root in records where root.kind <= 4 {
            let first = children(root.offset, idAt[root.offset]!)
            guard !first.isEmpty else { continue }
            var stack = [Frame(offset: root.offset, type: root.kind, data: nil, children: first)]
            var held = 0
            while let top = stack.indices.last {
                guard stack[top].next < stack[top].children.count else {
                    held -= stack.removeLast().data?.count ?? 0
                    continue
                }
                let child = records[stack[top].children[stack[top].next]]
                stack[top].next += 1
                if stack[top].data == nil {
                    let rebuilt = try build(stack[top].offset).data
                    stack[top].data = rebuilt
                    held += rebuilt.count
                }
                let type = stack[top].type
                let data = try Self.apply(try inflate(at: child.data, expected: child.size), to: stack[top].data!, limit: objectLimit)
                if stack[top].next == stack[top].children.count {
                    held -= stack[top].data!.count
                    stack[top].data = nil  // no child needs it any more
                }
                let id = Self.id(type: type, data)
                infos[id] = Info(offset: child.offset, type: type, size: data.count)
                idAt[child.offset] = id
                resolved += 1
                remember(child.offset, (type, data))
                let next = children(child.offset, id)
                guard !next.isEmpty else { continue }
                stack.append(Frame(offset: child.offset, type: type, data: data, children: next))
                held += data.count
                var k = 0
                while held > cacheLimit, k < stack.count - 1 {
                    if let dropped = stack[k].data { held -= dropped.count; stack[k].data = nil }
                    k += 1
                }
            }
        }
        guard resolved == deltas else {
            throw GitError("a delta's base is missing from the packfile (\(deltas - resolved) of \(deltas) deltas unresolved)")
        }
    }

    /// Drops the mapping's pages in [from, to) from this process (MADV_DONTNEED on a private,
    /// unmodified file mapping: they are read again from the file if needed).
    func release(from: Int, to: Int) {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = from / page * page, end = min(size, to) / page * page
        if end > start { madvise(UnsafeMutableRawPointer(mutating: base + start), end - start, MADV_DONTNEED) }
    }

    // MARK: objects

    func info(_ id: String) -> Info? { infos[id] }

    func object(_ id: String) throws -> GitFetch.Object? {
        guard let info = infos[id] else { return nil }
        let (type, data) = try build(info.offset)
        return GitFetch.Object(type: type, data: data)
    }

    /// Writes a blob's content to `fd`: a whole object inflates straight into it; a delta is
    /// built in memory first.
    func writeBlob(_ id: String, to fd: Int32, path: String) throws {
        guard let info = infos[id], let r = recordAt[info.offset].map({ records[$0] }) else {
            throw GitError("the server's pack lacks file \(id)")
        }
        func put(_ chunk: UnsafeRawBufferPointer) throws {
            if let problem = writeAll(fd, chunk) { throw GitError("write \(path): \(problem)") }
        }
        if r.kind <= 4 && cache[r.offset] == nil {
            _ = try inflate(at: r.data, expected: r.size, into: put)
            release(from: r.offset, to: r.end)
        } else {
            try build(r.offset).data.withUnsafeBytes { try put($0) }
        }
    }

    /// The type and content of the object at `offset`: from the cache, or inflated, following
    /// a delta chain down to a cached or whole object and applying the deltas back up.
    func build(_ offset: Int) throws -> (type: Int, data: [UInt8]) {
        if let hit = cache[offset] { return hit }
        var chain: [Record] = []
        var at = offset
        var current: (type: Int, data: [UInt8])
        while true {
            if let hit = cache[at] { current = hit; break }
            guard let index = recordAt[at] else { throw GitError("a delta's base is missing from the packfile") }
            let r = records[index]
            if r.kind <= 4 {
                current = (r.kind, try inflate(at: r.data, expected: r.size))
                remember(at, current)
                break
            }
            chain.append(r)
            guard chain.count <= 10_000 else { throw GitError("a delta chain in the packfile does not end") }
            if let baseID = r.baseID {
                guard let info = infos[baseID] else { throw GitError("a delta's base is missing from the packfile") }
                at = info.offset
            } else {
                at = r.baseOffset
            }
        }
        for r in chain.reversed() {
            current = (current.type, try Self.apply(try inflate(at: r.data, expected: r.size), to: current.data, limit: objectLimit))
            remember(r.offset, current)
        }
        return current
    }

    private func remember(_ offset: Int, _ object: (type: Int, data: [UInt8])) {
        guard object.data.count <= cacheLimit / 4, cache[offset] == nil else { return }
        cache[offset] = object
        cacheOrder.append(offset)
        cacheBytes += object.data.count
        while cacheBytes > cacheLimit, cacheHead < cacheOrder.count {
            if let old = cache.removeValue(forKey: cacheOrder[cacheHead]) { cacheBytes -= old.data.count }
            cacheHead += 1
        }
        if cacheHead > 4096 && cacheHead * 2 > cacheOrder.count {
            cacheOrder.removeFirst(cacheHead)
            cacheHead = 0
        }
    }

    /// Every object's id, offset and the CRC-32 of its stored bytes (a pack index's columns).
    func entries() -> [(id: String, offset: Int, crc: UInt32)] {
        records.map { r in
            (idAt[r.offset]!, r.offset, UInt32(crc32(0, base + r.offset, uInt(r.end - r.offset))))
        }
    }

    static func typeName(_ type: Int) -> String { ["", "commit", "tree", "blob", "tag"][type] }

    static func id(type: Int, _ data: [UInt8]) -> String {
        var h = Insecure.SHA1()
        h.update(data: Array("\(typeName(type)) \(data.count)\0".utf8))
        h.update(data: data)
        return Array(h.finalize()).hexString
    }

    // MARK: zlib

    /// Inflates the zlib stream at `at`, which must give exactly `expected` bytes, passing the
    /// output on in pieces; returns the stream's compressed length.
    func inflate(at: Int, expected: Int, into sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { throw GitError("zlib") }
        defer { inflateEnd(&stream) }
        let chunk = 256 << 10
        var out = [UInt8](repeating: 0, count: chunk)
        var position = at
        var produced = 0
        while true {
            if stream.avail_in == 0 {
                let available = size - 20 - position
                guard available > 0 else { throw GitError("a packfile object does not inflate to its size") }
                stream.next_in = UnsafeMutablePointer(mutating: base + position)
                stream.avail_in = uInt(min(available, 1 << 30))
                position += Int(stream.avail_in)
            }
            let rc: Int32 = out.withUnsafeMutableBytes { o in
                stream.next_out = o.baseAddress!.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(chunk)
                return CZlib.inflate(&stream, Z_NO_FLUSH)
            }
            let n = chunk - Int(stream.avail_out)
            produced += n
            guard produced <= expected else { throw GitError("a packfile object does not inflate to its size") }
            if n > 0 { try out.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[..<n])) } }
            if rc == Z_STREAM_END { break }
            guard rc == Z_OK || (rc == Z_BUF_ERROR && stream.avail_in == 0) else {
                throw GitError("a packfile object does not inflate (zlib error \(rc))")
            }
        }
        guard produced == expected else { throw GitError("a packfile object does not inflate to its size") }
        return Int(stream.total_in)
    }

    /// The most the zlib streams from `at` to the trailer can inflate to.
    func maxInflated(at: Int) -> Int { max(0, size - 20 - at) * Self.deflateRatio + 1024 }

    func inflate(at: Int, expected: Int) throws -> [UInt8] {
        guard expected <= min(objectLimit, maxInflated(at: at)) else {
            throw GitError("a packfile object of \(expected) bytes is larger than gvmc builds in memory (\(objectLimit) bytes)")
        }
        var data: [UInt8] = []
        data.reserveCapacity(expected)
        _ = try inflate(at: at, expected: expected) { data.append(contentsOf: $0) }
        return data
    }

    /// git's delta format: source and target sizes, then copy (offset, length) and insert ops.
    /// The target may be no larger than `limit`, nor than the ops could produce (a copy op of
    /// at most 8 bytes copies at most 2^24 - 1 bytes), and must come out at the size it claims.
    static func apply(_ delta: [UInt8], to base: [UInt8], limit: Int = 1 << 31) throws -> [UInt8] {
        var i = 0
        func varint() throws -> Int {
            var v = 0, shift = 0
            while true {
                guard i < delta.count, shift < 60 else { throw GitError("malformed delta") }
                let c = Int(delta[i]); i += 1
                v |= (c & 0x7f) << shift; shift += 7
                if c & 0x80 == 0 { return v }
            }
        }
        guard try varint() == base.count else { throw GitError("a delta does not fit its base") }
        let size = try varint()
        guard size <= limit, size <= (delta.count - i) << 21 else {
            throw GitError(
                "a delta claims a target of \(size) bytes, more than \(size <= limit ? "its \(delta.count) bytes can produce" : "gvmc builds in memory (\(limit) bytes)")"
            )
        }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        while i < delta.count {
            let op = Int(delta[i]); i += 1
            if op & 0x80 != 0 {
                var offset = 0, length = 0
                for bit in 0..<4 where op & (1 << bit) != 0 {
                    guard i < delta.count else { throw GitError("malformed delta") }
                    offset |= Int(delta[i]) << (8 * bit); i += 1
                }
                for bit in 0..<3 where op & (0x10 << bit) != 0 {
                    guard i < delta.count else { throw GitError("malformed delta") }
                    length |= Int(delta[i]) << (8 * bit); i += 1
                }
                if length == 0 { length = 0x10000 }
                guard offset + length <= base.count, out.count + length <= size else { throw GitError("malformed delta") }
                out += base[offset..<offset + length]
            } else if op != 0 {
                guard i + op <= delta.count, out.count + op <= size else { throw GitError("malformed delta") }
                out += delta[i..<i + op]; i += op
            } else {
                throw GitError("malformed delta")
            }
        }
        guard out.count == size else { throw GitError("a delta gives the wrong size") }
        return out
    }
}

/// Writes all of `bytes` to `fd` (short writes and EINTR retried); nil, or what went wrong.
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> String? {
    var written = 0
    while written < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + written, bytes.count - written)
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { return n == 0 ? "nothing written" : String(cString: strerror(errno)) }
        written += n
    }
    return nil
}
