// A transfer (download, upload, unpacking) on each display, with a clock the test moves: plain
// prints it sparingly and ends it with BuildKit's `done` line, rawjson ends it at its full size
// with `completed`, tty names the command in its header and drops a finished bar.
import Foundation
import Progress
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A display writing into a pipe, at times the test sets.
final class Recorded {
    /// The display's clock (read by its ticker thread too in tty mode).
    final class Clock: @unchecked Sendable {
        private let lock = NSLock()
        private var time = Date(timeIntervalSince1970: 1_000_000)
        var now: Date {
            get { lock.withLock { time } }
            set { lock.withLock { time = newValue } }
        }
    }
    let clock = Clock()
    let display: BuildProgress
    private let read: Int32, write: Int32

    init(_ mode: ProgressMode, title: String = "Building") {
        var fds: [Int32] = [0, 0]
        precondition(pipe(&fds) == 0)
        (read, write) = (fds[0], fds[1])
        let clock = self.clock
        display = BuildProgress(mode: mode, fd: fds[1], environment: ["NO_COLOR": "1"], title: title, clock: { clock.now })
    }

    func at(_ seconds: Double, _ body: (BuildProgress) -> Void) {
        clock.now = Date(timeIntervalSince1970: 1_000_000 + seconds)
        body(display)
    }

    /// Everything written (the pipe holds it: these outputs are far below its 64 KiB).
    func output() -> String {
        close(write)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = Glibc.read(read, &buffer, buffer.count)
            if n <= 0 { break }
            bytes += buffer[0..<n]
        }
        close(read)
        return String(decoding: bytes, as: UTF8.self)
    }
}

@Suite struct TransferStatus {
    @Test func plainPrintsAStatusAtMostEveryFiveSecondsAndADoneLine() {
        let r = Recorded(.plain)
        r.at(0) { $0.start("pushing to registry") }
        for (t, bytes) in [(0.0, 0), (1, 10_000), (4.9, 500_000), (5.0, 600_000), (6, 700_000), (10.1, 900_000), (11, 1_000_000)] {
            r.at(t) { $0.transfer("uploading", current: Int64(bytes), total: 1_000_000) }
        }
        r.at(11) { $0.transferDone("uploading") }
        r.at(11.5) { $0.done() }
        #expect(
            r.output() == """
                #1 pushing to registry
                #1 uploading 600kB / 1MB 5.0s
                #1 uploading 900kB / 1MB 10.1s
                #1 uploading 1MB / 1MB 11.0s done
                #1 DONE 11.5s

                """)
    }

    @Test func rawjsonStatusesEndAtTheFullSizeWithCompleted() throws {
        let r = Recorded(.rawjson)
        r.at(0) { $0.start("downloading") }
        for (t, bytes) in [(0.0, 0), (0.1, 100), (0.2, 200), (0.7, 700), (1.0, 1000)] {
            r.at(t) { $0.transfer("downloading", current: Int64(bytes), total: 1000) }
        }
        r.at(1.0) { $0.transferDone("downloading") }
        r.at(1.0) { $0.done() }
        let statuses = try r.output().split(separator: "\n").compactMap { line in
            (try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["statuses"] as? [[String: Any]]
        }.flatMap { $0 }
        // At most twice a second, and the end: 0, 700, 1000, then 1000 completed.
        #expect(statuses.map { $0["current"] as? Int } == [0, 700, 1000, 1000], "\(statuses)")
        #expect(statuses.allSatisfy { $0["total"] as? Int == 1000 && $0["id"] as? String == "downloading" })
        #expect(statuses.map { $0["completed"] != nil } == [false, false, false, true])
    }

    @Test func ttyHeaderNamesTheCommandAndAFinishedTransferHasNoBar() {
        let r = Recorded(.tty, title: "Pushing")
        r.at(0) { $0.start("pushing to registry") }
        r.at(1) {
            $0.transfer("ended", current: 400, total: 1000); $0.transfer("running", current: 400, total: 1000)
        }
        r.at(2) {
            $0.transfer("ended", current: 900, total: 1000); $0.transferDone("ended")
        }
        r.at(3) { $0.close() }
        let out = r.output()
        let final = out.components(separatedBy: "[+] Pushing 3.0s (0/1) FINISHED").last ?? ""
        #expect(out.contains("[+] Pushing 3.0s (0/1) FINISHED"), "\(out)")
        #expect(
            final.contains(" => pushing to registry") && final.contains(" => => running 400B / 1kB ") && !final.contains("ended"),
            "\(final)")
    }
}
