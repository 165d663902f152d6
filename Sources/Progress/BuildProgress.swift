// One progress model for long-running commands, shown as BuildKit shows it: vertices (`#N name`)
// that start, log, report statuses and end DONE, CACHED or ERROR. Displays: plain (BuildKit's
// plain printer, line for line), quiet, rawjson (one SolveStatus-shaped object per line).
import Crypto
import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// How progress is shown (`--progress`).
public enum ProgressMode: String, CaseIterable, Sendable {
    case auto, plain, tty, quiet, rawjson
}

/// One vertex as it ended, for summaries and metadata files.
public struct VertexRecord: Sendable {
    public var number: Int
    public var name: String
    public var started: Date
    public var completed: Date?
    public var cached = false
    public var error: String?
    /// The step's cache key, when it has one.
    public var key: String?
    /// The shared cache a cached result came from (nil: this machine's).
    public var cachedFrom: String?
    public var duration: TimeInterval { (completed ?? started).timeIntervalSince(started) }
}

/// The progress display of a long-running command: vertices that start, log and end.
public final class BuildProgress: @unchecked Sendable {
    public let mode: ProgressMode
    private let fd: Int32
    /// Every mutable property is read and written only inside `lock.withLock` (the reason the
    /// class is `@unchecked Sendable`): the executor's thread, RUN output and the redraw timer share it.
    private let lock = Mutex(())
    private let clock: () -> Date
    private var vertices: [VertexRecord] = []
    /// Output not yet ended by a newline, per vertex.
    private var partial: [Int: [UInt8]] = [:]
    /// The last lines each vertex logged (for the error footer).
    private var tails: [Int: [String]] = [:]
    private var lastPrinted: Int?
    private var current: Int?
    public let started: Date

    /// The live view (tty mode).
    private var screen: LiveScreen?
    /// GitLab CI: every vertex in a collapsible section of the job log.
    private let gitlabSections: Bool

    /// The tty header's verb: `[+] Building 1.2s (3/3)` (push and pull say Pushing, Pulling).
    private let title: String

    /// `auto` becomes tty when `fd` is a terminal (and TERM is not dumb), else plain, as BuildKit.
    public init(
        mode: ProgressMode, fd: Int32 = 2, environment: [String: String] = ProcessInfo.processInfo.environment,
        title: String = "Building", clock: @escaping () -> Date = Date.init
    ) {
        self.title = title
        var resolved = mode
        if mode == .auto { resolved = isatty(fd) == 1 && environment["TERM"] != "dumb" ? .tty : .plain }
        self.mode = resolved
        self.gitlabSections = resolved == .plain && environment["GITLAB_CI"] == "true"
        self.fd = fd
        self.clock = clock
        self.started = clock()
        if resolved == .tty {
            screen = LiveScreen(fd: fd, color: environment["NO_COLOR"] == nil)
            startTicker()
        }
    }

    /// How many vertices the whole run will have, when known (the tty header's `(k/n)`).
    public var expectedTotal: Int? {
        get { lock.withLock { _ in total } }
        set { lock.withLock { _ in total = newValue } }
    }
    private var total: Int?
    private var finished = false

    /// Ends the live view: its final screen stays (`FINISHED` or `ERROR` in the header), and the
    /// messages held back while it was drawn follow it.
    public func close() {
        let held: [String] = lock.withLock { _ in
            guard !finished else { return [] }
            finished = true
            redraw(force: true)
            defer { heldMessages.removeAll() }
            return heldMessages
        }
        for line in held { write(line + "\n") }
    }

    /// A warning or error line for standard error: printed now, or after the live view ends (it
    /// would be drawn over).
    public func message(_ line: String) {
        lock.withLock { _ in
            if screen != nil && !finished { heldMessages.append(line) } else { write(line + "\n") }
        }
    }
    private var heldMessages: [String] = []

    private func startTicker() {
        let thread = Thread { [weak self] in
            while let self, !self.lock.withLock({ _ in self.finished }) {
                usleep(200_000)
                self.lock.withLock { _ in self.redraw(force: false) }
            }
        }
        thread.start()
    }

    private func redraw(force: Bool) {
        guard let screen else { return }
        let now = clock()
        var lines: [LiveScreen.Line] = []
        for v in vertices {
            let time = String(format: "%.1fs", (v.completed ?? now).timeIntervalSince(v.started))
            if v.completed == nil {
                lines.append(.init(text: " => \(v.name)", time: time, style: .running))
                for (id, t) in (transfers[v.number] ?? [:]).sorted(by: { $0.key < $1.key }) where t.current < t.total && t.completed == nil
                {
                    lines.append(
                        .init(
                            text: " => => " + Self.transferLine(id, t, now: now),
                            time: String(format: "%.1fs", now.timeIntervalSince(t.started)), style: .log))
                }
                for l in (tails[v.number] ?? []).suffix(6) { lines.append(.init(text: " => => # " + l, time: "", style: .log)) }
            } else if v.cached {
                lines.append(.init(text: " => CACHED \(v.name)" + (v.cachedFrom.map { " (\($0))" } ?? ""), time: time, style: .done))
            } else if v.error != nil {
                lines.append(.init(text: " => ERROR \(v.name)", time: time, style: .error))
            } else {
                lines.append(.init(text: " => \(v.name)", time: time, style: .done))
            }
        }
        let done = vertices.filter { $0.completed != nil }.count
        let failed = vertices.contains { $0.error != nil }
        let state = finished ? (failed ? " ERROR" : " FINISHED") : ""
        let header =
            "[+] \(title) \(String(format: "%.1f", now.timeIntervalSince(started)))s (\(done)/\(max(total ?? 0, vertices.count)))\(state)"
        screen.draw(header: header, lines: lines, final: finished, force: force)
    }

    public var records: [VertexRecord] { lock.withLock { _ in vertices } }

    /// A transfer of the current vertex (a layer download, an upload): bytes so far and in all.
    struct Transfer {
        var current: Int64
        var total: Int64
        var started: Date
        /// The last rawjson status.
        var lastEmitted: Date?
        /// The last plain status line (nil: none yet; the first comes 5 s after the start).
        var lastPrinted: Date?
        var completed: Date?
    }
    private var transfers: [Int: [String: Transfer]] = [:]

    /// Progress of a transfer in the current vertex (any thread): tty draws it with its size,
    /// rate and time left until it completes; rawjson emits it as a status with current and
    /// total (at most twice a second, and at its end); plain prints `#N id 12.3MB / 45.6MB 5.0s`
    /// at most every 5 s (BuildKit's plain printer's minimum time between two lines of one
    /// status; gvmc leaves out its line per 5% so a fast transfer prints only its `done` line).
    public func transfer(_ id: String, current: Int64, total: Int64) {
        lock.withLock { _ in
            guard let n = self.current else { return }
            let now = clock()
            var t = transfers[n]?[id] ?? Transfer(current: 0, total: total, started: now)
            t.current = current; t.total = total
            if mode == .rawjson, t.current >= t.total || t.lastEmitted.map({ now.timeIntervalSince($0) >= 0.5 }) ?? true {
                t.lastEmitted = now
                emitJSON(transfer: id, t, vertex: n, now: now)
            }
            if mode == .plain, t.current < t.total, now.timeIntervalSince(t.lastPrinted ?? t.started) >= 5 {
                t.lastPrinted = now
                printHeaderIfNeeded(n)
                write("#\(n) \(Self.statusLine(id, t, now: now))\n")
            }
            transfers[n, default: [:]][id] = t
        }
    }

    /// The end of a transfer of the current vertex: plain prints BuildKit's last status line
    /// (`#N id 45.6MB / 45.6MB 3.2s done`), rawjson a status with `completed`, tty stops its bar.
    public func transferDone(_ id: String) {
        lock.withLock { _ in
            guard let n = current, var t = transfers[n]?[id], t.completed == nil else { return }
            let now = clock()
            t.completed = now
            transfers[n]?[id] = t
            switch mode {
            case .plain:
                printHeaderIfNeeded(n)
                write("#\(n) \(Self.statusLine(id, t, now: now)) done\n")
            case .rawjson:
                emitJSON(transfer: id, t, vertex: n, now: now)
            default: break
            }
        }
    }

    /// A plain status line's text: `id 12.3MB / 45.6MB 5.0s`.
    static func statusLine(_ id: String, _ t: Transfer, now: Date) -> String {
        "\(id) \(humanSize(t.current)) / \(humanSize(t.total)) \(String(format: "%.1f", now.timeIntervalSince(t.started)))s"
    }

    /// `sha256:abcd… 12.35MB / 45.6MB 2.1MB/s 15s left [=======>      ]` (the bar last: a
    /// narrow terminal cuts it first).
    static func transferLine(_ id: String, _ t: Transfer, now: Date) -> String {
        let elapsed = max(0.001, now.timeIntervalSince(t.started))
        let rate = Double(t.current) / elapsed
        var line = "\(id) \(humanSize(t.current)) / \(humanSize(t.total)) \(humanSize(Int64(rate)))/s"
        if rate > 0 && t.total > t.current { line += " \(Int((Double(t.total - t.current) / rate).rounded(.up)))s left" }
        let width = 16
        let filled = t.total > 0 ? min(width, Int(Double(width) * Double(t.current) / Double(t.total))) : 0
        return line + " [" + String(repeating: "=", count: max(0, filled - 1)) + (filled > 0 ? ">" : "")
            + String(repeating: " ", count: width - filled) + "]"
    }

    // MARK: - Events

    /// Starts a vertex and makes it current; returns its number.
    @discardableResult
    public func start(_ name: String) -> Int {
        lock.withLock { _ in
            let n = vertices.count + 1
            vertices.append(VertexRecord(number: n, name: name, started: clock()))
            current = n
            printHeader(n)
            emitJSON(vertex: n)
            redraw(force: false)
            return n
        }
    }

    /// Output of the current vertex (split into lines; a partial line waits for its end).
    public func output(_ bytes: UnsafeRawBufferPointer, stream: Int32 = 1) {
        lock.withLock { _ in
            guard let n = current else { return }
            if mode == .rawjson { emitJSON(log: Array(bytes), vertex: n, stream: stream); appendTail(n, bytes: Array(bytes)); return }
            // Whole lines are found with a byte search; plain mode writes them in one system call
            // per chunk, and only the chunk's last lines are kept for the tail (a step printing
            // 100,000 lines costs little more than its output going to /dev/null).
            var pending = partial[n] ?? []
            var lines: [ArraySlice<UInt8>] = []
            var start = 0
            let all = Array(bytes)
            while let newline = all[start...].firstIndex(of: 0x0A) {
                if pending.isEmpty {
                    lines.append(all[start..<newline])
                } else {
                    pending.append(contentsOf: all[start..<newline])
                    lines.append(pending[...])
                    pending = []
                }
                start = newline + 1
            }
            pending.append(contentsOf: all[start...])
            partial[n] = pending
            guard !lines.isEmpty else { return }
            let stamp = Self.elapsed(clock().timeIntervalSince(vertices[n - 1].started))
            for line in lines.suffix(10) { appendTailLine(n, stamp + " " + String(decoding: line, as: UTF8.self)) }
            guard mode == .plain else { return }
            printHeaderIfNeeded(n)
            let prefix = Array("#\(n) \(stamp) ".utf8)
            var out: [UInt8] = []
            out.reserveCapacity(bytes.count + lines.count * prefix.count)
            for line in lines { out += prefix; out += line; out.append(0x0A) }
            out.withUnsafeBytes { writeAll(fd, $0) }
        }
    }

    /// A log line of the current vertex.
    public func log(_ line: String) {
        var bytes = Array(line.utf8) + [0x0A]
        bytes.withUnsafeMutableBytes { output(UnsafeRawBufferPointer($0)) }
    }

    /// A status line of the current vertex (`transferring dockerfile: 123B done`).
    public func status(_ text: String) {
        lock.withLock { _ in
            guard let n = current else { return }
            switch mode {
            case .plain:
                printHeaderIfNeeded(n)
                write("#\(n) \(text)\n")
            case .rawjson:
                emitJSON(status: text, vertex: n)
            default: break
            }
        }
    }

    public func done(key: String? = nil) { finish { $0.key = key } }
    /// `from`: the shared cache the result came from (`registry HOST/REPO:TAG`), shown after CACHED.
    public func cached(key: String? = nil, from: String? = nil) {
        finish {
            $0.cached = true; $0.key = key; $0.cachedFrom = from
        }
    }
    public func failed(_ message: String) { finish { $0.error = message } }

    private func finish(_ edit: (inout VertexRecord) -> Void) {
        lock.withLock { _ in
            guard let n = current else { return }
            flushPartial(n)
            edit(&vertices[n - 1])
            vertices[n - 1].completed = clock()
            let v = vertices[n - 1]
            switch mode {
            case .plain:
                printHeaderIfNeeded(n)
                if v.cached {
                    write("#\(n) CACHED" + (v.cachedFrom.map { " (\($0))" } ?? "") + "\n")
                } else if let e = v.error {
                    write("#\(n) ERROR: \(e)\n")
                } else {
                    write("#\(n) DONE \(String(format: "%.1f", v.duration))s\n")
                }
                if gitlabSections { write("\u{1B}[0Ksection_end:\(Int(clock().timeIntervalSince1970)):gvmc_step_\(n)\r\u{1B}[0K") }
            case .rawjson:
                emitJSON(vertex: n)
            default: break
            }
            current = nil
            redraw(force: false)
        }
    }

    // MARK: - After the build

    /// BuildKit's footer for a failed vertex: its name and last output lines, then the Dockerfile
    /// around the failing line with `>>>` at it.
    public func failureReport(dockerfile: [UInt8]? = nil, file: String = "Dockerfile", line: Int? = nil) -> String {
        lock.withLock { _ in
            guard let v = vertices.last(where: { $0.error != nil }) else { return "" }
            var out = "------\n > \(v.name):\n"
            for l in tails[v.number] ?? [] { out += l + "\n" }
            out += "------\n"
            if let dockerfile, let line {
                var lines = String(decoding: dockerfile, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false)
                if lines.last == "" { lines.removeLast() }
                if line >= 1 && line <= lines.count {
                    out += "\(file):\(line)\n--------------------\n"
                    let width = String(min(lines.count, line + 2)).count
                    for i in max(1, line - 2)...min(lines.count, line + 2) {
                        let number = String(repeating: " ", count: width - String(i).count) + String(i)
                        out += " \(number) | \(i == line ? ">>>" : "   ") \(lines[i - 1])\n"
                    }
                    out += "--------------------\n"
                }
            }
            return out
        }
    }

    /// A size as BuildKit's progress shows it (go-units HumanSize: decimal, 4 significant
    /// digits): `512B`, `1.024kB`, `12.35MB`.
    public static func humanSize(_ bytes: Int64) -> String {
        let units = ["B", "kB", "MB", "GB", "TB", "PB"]
        var value = Double(bytes), i = 0
        while value >= 1000 && i < units.count - 1 { value /= 1000; i += 1 }
        return String(format: "%.4g", value) + units[i]
    }

    /// One line: total time, steps run and cached, and the three slowest.
    public func summary(result: String) -> String {
        lock.withLock { _ in
            let total = clock().timeIntervalSince(started)
            let steps = vertices.filter { $0.name.hasPrefix("[") && !$0.name.hasPrefix("[internal]") }
            let cached = steps.filter(\.cached).count
            let slowest = steps.filter { !$0.cached && $0.completed != nil }.sorted { $0.duration > $1.duration }.prefix(3)
            var line = "\(result) in \(String(format: "%.1f", total))s"
            if !steps.isEmpty { line += ": \(steps.count) steps, \(cached) cached" }
            if !slowest.isEmpty {
                line +=
                    "; slowest: "
                    + slowest.map { "#\($0.number) \($0.name) \(String(format: "%.1f", $0.duration))s" }.joined(separator: ", ")
            }
            return line
        }
    }

    // MARK: - Plain

    private func printHeader(_ n: Int) {
        guard mode == .plain else { return }
        if lastPrinted != nil { write("\n") }
        if gitlabSections {
            // GitLab's collapsible sections: `section_start:<unix time>:<name>[collapsed=true]`.
            write("\u{1B}[0Ksection_start:\(Int(vertices[n - 1].started.timeIntervalSince1970)):gvmc_step_\(n)[collapsed=true]\r\u{1B}[0K")
        }
        write("#\(n) \(vertices[n - 1].name)\n")
        lastPrinted = n
    }

    private func printHeaderIfNeeded(_ n: Int) {
        guard mode == .plain, lastPrinted != n else { return }
        write("\n#\(n) ...\n")
        lastPrinted = n
    }

    private func logLine(_ n: Int, _ text: String) {
        let elapsed = clock().timeIntervalSince(vertices[n - 1].started)
        let stamp = Self.elapsed(elapsed)
        appendTailLine(n, stamp + " " + text)
        guard mode == .plain else { return }
        printHeaderIfNeeded(n)
        write("#\(n) \(stamp) \(text)\n")
    }

    private func flushPartial(_ n: Int) {
        if let rest = partial[n], !rest.isEmpty {
            logLine(n, String(decoding: rest, as: UTF8.self))
        }
        partial[n] = nil
    }

    private func appendTail(_ n: Int, bytes: [UInt8]) {
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") { appendTailLine(n, String(line)) }
    }

    private func appendTailLine(_ n: Int, _ line: String) {
        var t = tails[n] ?? []
        t.append(line)
        if t.count > 10 { t.removeFirst(t.count - 10) }
        tails[n] = t
    }

    /// Seconds as BuildKit prints log times: 3 decimals below 10 s, 2 below 100 s, else 1.
    public static func elapsed(_ seconds: TimeInterval) -> String {
        // BuildKit's 3/2/1 decimals below 10 s/100 s/else, without String(format:) (per line).
        let decimals = seconds < 10 ? 3 : seconds < 100 ? 2 : 1
        let scale = decimals == 3 ? 1000 : decimals == 2 ? 100 : 10
        let units = Int((max(0, seconds) * Double(scale)).rounded())
        let fraction = String(units % scale)
        return "\(units / scale)." + String(repeating: "0", count: decimals - fraction.count) + fraction
    }

    private func write(_ text: String) { writeAll(fd, text) }

    // MARK: - rawjson

    /// The vertex's digest: BuildKit names vertices by content digest; gvmc by its number and name.
    public static func digest(_ n: Int, _ name: String) -> String {
        "sha256:" + SHA256.hash(data: Array("gvmc vertex \(n) \(name)".utf8)).map { String(format: "%02x", $0) }.joined()
    }

    private static func time(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: d)
    }

    private func emitJSON(vertex n: Int) {
        guard mode == .rawjson else { return }
        let v = vertices[n - 1]
        emit(
            SolveStatusLine(vertexes: [
                .init(
                    digest: Self.digest(n, v.name), name: v.name, started: Self.time(v.started),
                    completed: v.completed.map(Self.time), cached: v.cached ? true : nil, error: v.error)
            ]))
    }

    private func emitJSON(transfer id: String, _ t: Transfer, vertex n: Int, now: Date) {
        emit(
            SolveStatusLine(statuses: [
                .init(
                    id: id, vertex: Self.digest(n, vertices[n - 1].name), current: t.current, total: t.total,
                    timestamp: Self.time(now), started: Self.time(t.started), completed: t.completed.map(Self.time))
            ]))
    }

    private func emitJSON(status text: String, vertex n: Int) {
        emit(SolveStatusLine(statuses: [.init(id: text, vertex: Self.digest(n, vertices[n - 1].name), timestamp: Self.time(clock()))]))
    }

    private func emitJSON(log bytes: [UInt8], vertex n: Int, stream: Int32) {
        emit(
            SolveStatusLine(logs: [
                .init(
                    vertex: Self.digest(n, vertices[n - 1].name), stream: Int(stream),
                    data: Data(bytes).base64EncodedString(), timestamp: Self.time(clock()))
            ]))
    }

    private func emit(_ line: SolveStatusLine) { write(line.line()) }
}

/// CI annotations: with `GITHUB_ACTIONS=true`, a diagnostic line `FILE:LINE:COL: warning: text`
/// (or `error: FILE:LINE:COL: text`) is also printed as a workflow command, so it shows on the
/// pull request.
public enum Annotations {
    public static func github(_ line: String) -> String? {
        var text = Substring(line)
        var level = "warning"
        if text.hasPrefix("error: ") { level = "error"; text = text.dropFirst(7) }
        let parts = text.split(separator: ":", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, let l = Int(parts[1]), let c = Int(parts[2]) else { return nil }
        var message = parts[3].drop { $0 == " " }
        for prefix in ["warning: ", "error: "] where message.hasPrefix(prefix) {
            level = String(prefix.dropLast(2))
            message = message.dropFirst(prefix.count)
        }
        func escape(_ s: some StringProtocol, property: Bool) -> String {
            var out = String(s).replacingOccurrences(of: "%", with: "%25").replacingOccurrences(of: "\r", with: "%0D").replacingOccurrences(
                of: "\n", with: "%0A")
            if property { out = out.replacingOccurrences(of: ":", with: "%3A").replacingOccurrences(of: ",", with: "%2C") }
            return out
        }
        return "::\(level) file=\(escape(parts[0], property: true)),line=\(l),col=\(c)::\(escape(message, property: false))"
    }
}
