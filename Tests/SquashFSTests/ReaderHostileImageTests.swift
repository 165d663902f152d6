// The reader against hostile images (a base image or a downloaded .gvmi is untrusted): each
// malformed image gives an error naming what failed and the file offset — no trap, no hang,
// no memory blow-up — and a FIFO or device is refused without being opened.
import Dispatch
import Foundation
import SquashFS
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Lists `image` with the reader; the error text if it fails.
private func list(_ image: [UInt8], in scratch: Scratch, name: String = "x.sqfs") -> Result<[ImageEntry], SquashFSError> {
    let path = scratch.sub(name)
    FileManager.default.createFile(atPath: path, contents: Data(image))
    do { return .success(try SquashFSReader(path: path).entries()) } catch { return .failure(error) }
}

private func patch(_ image: inout [UInt8], at offset: Int, _ bytes: [UInt8]) {
    image.replaceSubrange(offset..<(offset + bytes.count), with: bytes)
}

/// A root with a file "a" and a directory "d" holding a file "f".
private func smallTree() -> (CraftedImage, root: UInt64) {
    var c = CraftedImage()
    let f = c.file()
    let d = c.directory([(Array("f".utf8), f, 2)])
    let a = c.file()
    let root = c.directory([(Array("a".utf8), a, 2), (Array("d".utf8), d, 1)])
    return (c, root.reference)
}

/// Runs `body` on another thread and reports whether it finished within `seconds` (a hang
/// leaves that thread blocked, but the test fails instead of hanging the run).
func finishes(within seconds: Double, _ body: @escaping @Sendable () -> Void) -> Bool {
    let done = DispatchSemaphore(value: 0)
    Thread.detachNewThread {
        body(); done.signal()
    }
    return done.wait(timeout: .now() + seconds) == .success
}

@Suite(.serialized) struct ReaderHostileImages {
    @Test func aCraftedImageListsAsUnsquashfsListsIt() throws {
        let scratch = Scratch()
        let (c, root) = smallTree()
        let entries = try list(c.image(root: root), in: scratch).get()
        #expect(entries.map(\.path) == ["/", "/a", "/d", "/d/f"])
        if Tools.hasUnsquashfs {
            let r = Tools.run(["unsquashfs", "-lls", scratch.sub("x.sqfs")])
            #expect(r.status == 0 && r.output.contains("squashfs-root/d/f"), "\(r.output)")
        }
    }

    @Test func aNameLengthPastItsListingIsAnErrorAtTheDirectoryTable() throws {
        let scratch = Scratch()
        let (c, root) = smallTree()
        var image = c.image(root: root)
        // The root's listing starts after d's (12-byte header + 8-byte entry + "f"): its first
        // entry's name size field is 12 + 6 bytes into that listing.
        let layout = c.layout()
        let rootListing = 2 + 12 + 8 + 1
        patch(&image, at: layout.directoryTable + rootListing + 12 + 6, CraftedImage.le16(250))
        let error = try #require(list(image, in: scratch).failure)
        #expect("\(error)".contains("offset \(layout.directoryTable)") && "\(error)".contains("runs past the listing"), "\(error)")
    }

    @Test func anImageWithNoTableAfterTheDirectoriesIsAnError() throws {
        let scratch = Scratch()
        let (c, root) = smallTree()
        var image = c.image(root: root)
        // The id table moved before the directory table: no table bounds the directory table.
        patch(&image, at: 48, CraftedImage.le64(UInt64(c.layout().inodeTable)))
        let error = try #require(list(image, in: scratch).failure)
        #expect("\(error)".contains("offset 72") && "\(error)".contains("no table follows the directory table"), "\(error)")
    }

    @Test func anIdBlockPointerAboveInt64MaxIsAnError() throws {
        let scratch = Scratch()
        let (c, root) = smallTree()
        var image = c.image(root: root)
        patch(&image, at: c.layout().idIndex, CraftedImage.le64(0x8000_0000_0000_0010))
        let error = try #require(list(image, in: scratch).failure)
        #expect("\(error)".contains("id table block 0") && "\(error)".contains("run past bytes_used"), "\(error)")
        #expect("\(error)".contains("offset \(Int.max)"), "\(error)")
    }

    @Test func directoriesSharingEntriesAreRefusedInsteadOfWalkedExponentially() throws {
        let scratch = Scratch()
        // 40 levels, each directory listing the one below twice: 2^40 paths from an 8 KiB image.
        var c = CraftedImage()
        var below = c.directory([(Array("leaf".utf8), c.file(), 2)])
        for _ in 0..<40 { below = c.directory([(Array("a".utf8), below, 1), (Array("b".utf8), below, 1)]) }
        let image = c.image(root: below.reference)
        #expect(image.count <= 8192)
        let path = scratch.sub("dag.sqfs")
        FileManager.default.createFile(atPath: path, contents: Data(image))
        let start = ContinuousClock.now
        #expect { try SquashFSReader(path: path).entries() } throws: { "\($0)".contains("reached a second time") }
        #expect(ContinuousClock.now - start < .seconds(2))
        // A directory listing itself: a loop. Its inode follows the file's 32 bytes, as number 2.
        var loop = CraftedImage()
        let file = loop.file()
        let root = loop.directory([(Array("self".utf8), (32, 2), 1), (Array("z".utf8), file, 2)])
        #expect(root.reference == 32 && root.number == 2)
        let error = try #require(list(loop.image(root: root.reference), in: scratch, name: "loop.sqfs").failure)
        #expect("\(error)".contains("directory \"/self\" is reached a second time"), "\(error)")
    }

    @Test func invalidDuplicateAndUnsortedNamesAreRefused() throws {
        let scratch = Scratch()
        for (names, expected) in [
            (["a/b"], "invalid name"), ([".."], "invalid name"), (["b", "a"], "out of order"),
            (["a", "a"], "duplicated")
        ] {
            var c = CraftedImage()
            let children = names.map { (name: Array($0.utf8), inode: c.file(), type: UInt16(2)) }
            let root = c.directory(children)
            let error = try #require(list(c.image(root: root.reference), in: scratch).failure, "\(names)")
            #expect("\(error)".contains(expected) && "\(error)".contains("offset \(c.layout().directoryTable)"), "\(error)")
        }
    }

    @Test func everySingleByteCorruptionOfTheMetadataFailsCleanly() throws {
        let scratch = Scratch()
        let (c, root) = smallTree()
        let image = c.image(root: root)
        let end = c.layout().bytesUsed
        // Every byte of superblock and tables, with bit patterns that make lengths and pointers
        // huge, negative-looking, zero or off by one.
        var outcomes = (listed: 0, refused: 0)
        for offset in 0..<end {
            for mask: UInt8 in [0x01, 0x80, 0xFF, 0x7F, 0x10] {
                var mutant = image
                mutant[offset] ^= mask
                switch list(mutant, in: scratch) {
                case .success: outcomes.listed += 1
                case .failure(let error): if case .corrupt = error { outcomes.refused += 1 } else { Issue.record("\(offset): \(error)") }
                }
            }
        }
        #expect(outcomes.listed + outcomes.refused == end * 5)
        #expect(outcomes.refused > 0)
    }

    @Test func writerImagesSurviveRandomByteFlips() throws {
        let scratch = Scratch()
        let root = scratch.sub("root")
        for dir in ["etc", "usr/bin", "usr/lib/x"] {
            try FileManager.default.createDirectory(atPath: root + "/" + dir, withIntermediateDirectories: true)
        }
        for i in 0..<40 { FileManager.default.createFile(atPath: root + "/usr/lib/x/f\(i)", contents: Data("\(i)".utf8)) }
        symlink("../lib", root + "/usr/bin/l")
        try pack(root, to: scratch.sub("good.sqfs"))
        let image = [UInt8](try Data(contentsOf: URL(fileURLWithPath: scratch.sub("good.sqfs"))))
        // Flips where the reader looks: the superblock and the (compressed) tables after the data.
        let tables = Int(image[64]) | Int(image[65]) << 8 | Int(image[66]) << 16
        let places = Array(0..<96) + Array(tables..<image.count)
        var random = SplitMix(seed: 14)
        for _ in 0..<3000 {
            var mutant = image
            for _ in 0..<Int(random.next() % 3 + 1) {
                mutant[places[Int(random.next() % UInt64(places.count))]] ^= UInt8(truncatingIfNeeded: random.next() | 1)
            }
            if case .failure(let error) = list(mutant, in: scratch), case .io = error { Issue.record("\(error)") }
        }
    }

    @Test func aFifoADeviceAndADirectoryAreRefusedWithoutBlocking() throws {
        let scratch = Scratch()
        let fifo = scratch.sub("image.fifo")
        #expect(mkfifo(fifo, 0o644) == 0)
        let outcome = Captured()
        #expect(
            finishes(within: 5) {
                do { _ = try SquashFSReader(path: fifo) } catch { outcome.set("\(error)") }
            }, "opening a FIFO must not wait for a writer")
        #expect(outcome.get().contains("is a FIFO, not a regular file"), "\(outcome.get())")
        #expect { try SquashFSReader(path: "/dev/zero") } throws: { "\($0)".contains("is a character device") }
        #expect { try SquashFSReader(path: scratch.path) } throws: { "\($0)".contains("is a directory") }
    }
}

/// A string set on one thread and read on another.
final class Captured: @unchecked Sendable {
    private let lock = NSLock()
    private var value = ""
    func set(_ text: String) { lock.withLock { value = text } }
    func get() -> String { lock.withLock { value } }
}

/// A small deterministic generator, so a failing mutant can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Result {
    var failure: Failure? { if case .failure(let e) = self { return e } else { return nil } }
}
