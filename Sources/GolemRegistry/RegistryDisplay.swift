// A push or pull shown on the one progress display of build and convert: each phase GolemRegistry
// reports is a vertex (`#3 pushing to REGISTRY`), its bytes a transfer (a bar with rate and time
// left in tty, a sparing status in plain, statuses in rawjson), retries and notes its log lines.
import Foundation
import Progress

/// Its state is guarded by `lock`.
public final class RegistryDisplay: @unchecked Sendable {
    let display: BuildProgress
    /// The vertex of each phase; a phase without a name is not shown.
    let names: [RegistryProgress.Phase: String]
    private let lock = NSLock()
    private var phase: RegistryProgress.Phase?
    /// Whether the current phase has reported bytes (its transfer gets a `done` line at its end).
    private var transferred = false
    /// Notes from before the first vertex (the credentials used): logged in it.
    private var early: [String] = []

    public init(_ display: BuildProgress, names: [RegistryProgress.Phase: String]) {
        self.display = display
        self.names = names
    }

    /// What GolemRegistry calls.
    public var progress: RegistryProgress {
        RegistryProgress(phase: { [self] in begin($0) }, bytes: { [self] in bytes($0, $1) })
    }

    /// The status id of a phase's transfer.
    static func transferID(_ phase: RegistryProgress.Phase) -> String {
        switch phase {
        case .checking, .resolving: return "reading"
        case .hashing: return "hashing"
        case .uploading: return "uploading"
        case .downloading: return "downloading"
        }
    }

    private func begin(_ next: RegistryProgress.Phase) {
        lock.withLock {
            endPhase()
            phase = next
            guard let name = names[next] else { return }
            display.start(name)
            for line in early { display.log(line) }
            early = []
        }
    }

    private func bytes(_ done: UInt64, _ total: UInt64) {
        lock.withLock {
            guard let phase, names[phase] != nil else { return }
            transferred = true
            display.transfer(Self.transferID(phase), current: Int64(clamping: done), total: Int64(clamping: max(done, total)))
        }
    }

    /// A retry or a note as the current vertex's log line; a warning is printed whatever the mode
    /// (quiet too).
    public func log(_ line: String) {
        if line.hasPrefix("warning:") { display.message(line); return }
        lock.withLock {
            if let phase, names[phase] != nil { display.log(line) } else { early.append(line) }
        }
    }

    /// The last phase ended well.
    public func finish() {
        lock.withLock { endPhase(); phase = nil }
    }

    /// The current phase failed with `message`, which follows the display as `error: ...`.
    public func fail(_ message: String) {
        lock.withLock {
            if let phase, names[phase] != nil { display.failed(message) }
            phase = nil
        }
        display.message("error: \(message)")
    }

    private func endPhase() {
        guard let phase, names[phase] != nil else { return }
        if transferred { display.transferDone(Self.transferID(phase)) }
        transferred = false
        display.done()
    }
}
