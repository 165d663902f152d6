// Progress of a long transfer (hashing, upload, download) on standard error: a redrawn bar with
// bytes, speed and ETA on a terminal, a line per 5% in logs (CI), nothing when quiet.
import Foundation

public enum ProgressStyle: String, Sendable, CaseIterable {
    case auto, plain, tty, quiet

    /// `auto` as a terminal on standard error makes it.
    public var resolved: ProgressStyle { self == .auto ? (isatty(2) != 0 ? .tty : .plain) : self }
}

public final class TransferProgress: @unchecked Sendable {
    let label: String
    let total: UInt64
    let style: ProgressStyle
    let write: @Sendable (String) -> Void
    private let lock = NSLock()
    private var done: UInt64 = 0
    private let started = Date()
    private var lastDraw = Date.distantPast
    private var lastPercent = -1

    public init(_ label: String, total: UInt64, style: ProgressStyle,
                write: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data($0.utf8)) }) {
        self.label = label
        self.total = total
        self.style = style.resolved
        self.write = write
    }

    public func advance(_ bytes: Int) {
        lock.lock(); defer { lock.unlock() }
        done += UInt64(bytes)
        render(final: false)
    }

    /// The last line (the bar's final state; the 100% line in logs).
    public func finish() {
        lock.lock(); defer { lock.unlock() }
        render(final: true)
    }

    private func render(final: Bool) {
        let now = Date()
        let elapsed = max(now.timeIntervalSince(started), 0.001)
        let fraction = total == 0 ? 1 : Double(done) / Double(total)
        let speed = Double(done) / elapsed
        switch style {
        case .quiet, .auto:
            return
        case .plain:
            let percent = Int(fraction * 100) / 5 * 5
            guard percent > lastPercent, final || percent < 100 else { return }
            lastPercent = percent
            write("\(label): \(percent)% (\(Self.bytes(done)) of \(Self.bytes(total)), \(Self.bytes(UInt64(speed)))/s)\n")
        case .tty:
            guard final || now.timeIntervalSince(lastDraw) >= 0.1 else { return }
            lastDraw = now
            let width = 24
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            let eta = speed > 0 && !final ? " ETA \(Int((Double(total - min(done, total)) / speed).rounded(.up)))s" : ""
            write("\r\u{1B}[K\(label) [\(bar)] \(Int(fraction * 100))% \(Self.bytes(done))/\(Self.bytes(total)) \(Self.bytes(UInt64(speed)))/s\(eta)"
                  + (final ? "\n" : ""))
        }
    }

    /// Decimal units, as transfer tools print them.
    static func bytes(_ n: UInt64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB"]
        var value = Double(n), unit = 0
        while value >= 1000, unit < units.count - 1 { value /= 1000; unit += 1 }
        return unit == 0 ? "\(n) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
