// A push or pull shown on the one progress display of build and convert: each phase GolemRegistry
// reports is a vertex (`#3 pushing to REGISTRY`), its bytes a transfer (a bar with rate and time
// left in tty, a sparing status in plain, statuses in rawjson), retries and notes its log lines.
import Foundation
import Progress
import Synchronization

/// The display is Sendable (it locks its own state); this type's state is in a Mutex.
public final class RegistryDisplay: Sendable {
    let display: BuildProgress
    /// The vertex of each phase; a phase without a name is not shown.
    let names: [RegistryProgress.Phase: String]
    private struct State {
        var phase: RegistryProgress.Phase?
        /// Whether the current phase has reported bytes (its transfer gets a `done` line at its end).
        var transferred = false
        /// Notes from before the first vertex (the credentials used): logged in it.
        var early: [String] = []
    }
    private let state = Mutex(State())

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
        state.withLock { s in
            endPhase(&s)
            s.phase = next
            guard let name = names[next] else { return }
            display.start(name)
            for line in s.early { display.log(line) }
            s.early = []
        }
    }

    private func bytes(_ done: UInt64, _ total: UInt64) {
        state.withLock { s in
            guard let phase = s.phase, names[phase] != nil else { return }
            s.transferred = true
            display.transfer(Self.transferID(phase), current: Int64(clamping: done), total: Int64(clamping: max(done, total)))
        }
    }

    /// A retry or a note as the current vertex's log line; a warning is printed whatever the mode
    /// (quiet too).
    public func log(_ line: String) {
        if line.hasPrefix("warning:") { display.message(line); return }
        state.withLock { s in
            if let phase = s.phase, names[phase] != nil { display.log(line) } else { s.early.append(line) }
        }
    }

    /// The last phase ended well.
    public func finish() {
        state.withLock { s in
            endPhase(&s); s.phase = nil
        }
    }

    /// The current phase failed with `message`, which follows the display as `error: ...`.
    public func fail(_ message: String) {
        state.withLock { s in
            if let phase = s.phase, names[phase] != nil { display.failed(message) }
            s.phase = nil
        }
        display.message("error: \(message)")
    }

    private func endPhase(_ s: inout State) {
        guard let phase = s.phase, names[phase] != nil else { return }
        if s.transferred { display.transferDone(Self.transferID(phase)) }
        s.transferred = false
        display.done()
    }
}
