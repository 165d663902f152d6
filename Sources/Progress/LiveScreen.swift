// The tty display: the vertices redrawn in place, at most five times a second, each line cut to
// the terminal's width (a narrow terminal is never garbled by wrapped lines), colours only when
// NO_COLOR is not set.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class LiveScreen {
    struct Line {
        enum Style { case running, done, error, log }
        var text: String
        var time: String
        var style: Style
    }

    private let fd: Int32
    private let color: Bool
    private var drawnLines = 0
    private var lastDraw = Date.distantPast

    init(fd: Int32, color: Bool) {
        self.fd = fd
        self.color = color
    }

    private var width: Int {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 { return Int(size.ws_col) }
        return 80
    }

    private var height: Int {
        var size = winsize()
        if ioctl(fd, UInt(TIOCGWINSZ), &size) == 0, size.ws_row > 0 { return Int(size.ws_row) }
        return 24
    }

    /// Redraws; without `force`, at most every 200 ms. The final screen lists every vertex.
    func draw(header: String, lines: [Line], final: Bool, force: Bool) {
        let now = Date()
        guard force || now.timeIntervalSince(lastDraw) >= 0.2 else { return }
        lastDraw = now
        let cols = width
        var shown = lines
        if !final {
            // Finished vertices collapse first when the screen is short: the running ones stay.
            let room = max(height - 2, 4)
            if shown.count > room {
                let running = shown.filter { $0.style == .running || $0.style == .log }
                shown = Array((shown.filter { $0.style != .running && $0.style != .log }.suffix(max(room - running.count, 0))) + running)
                    .suffix(room)
            }
        }
        var out = ""
        if drawnLines > 0 { out += "\u{1B}[\(drawnLines)A" }  // back to the header
        out += "\r\u{1B}[2K" + paint(fit(header, "", cols), final ? .done : .running) + "\n"
        for line in shown {
            out += "\r\u{1B}[2K" + paint(fit(line.text, line.time, cols), line.style) + "\n"
        }
        // Lines left from a taller previous screen are cleared.
        let extra = drawnLines - (shown.count + 1)
        if extra > 0 {
            for _ in 0..<extra { out += "\r\u{1B}[2K\n" }
            out += "\u{1B}[\(extra)A"
        }
        drawnLines = shown.count + 1
        write(out)
    }

    /// The text cut to the width with the time right-aligned.
    private func fit(_ text: String, _ time: String, _ cols: Int) -> String {
        let clean = String(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F }.map(Character.init))
        let timeWidth = time.isEmpty ? 0 : time.count + 1
        let room = max(cols - timeWidth - 1, 8)
        var body = clean.count > room ? String(clean.prefix(room - 1)) + "…" : clean
        if !time.isEmpty { body += String(repeating: " ", count: max(room - body.count, 0)) + " " + time }
        return body
    }

    private func paint(_ text: String, _ style: Line.Style) -> String {
        guard color else { return text }
        switch style {
        case .running: return "\u{1B}[34m" + text + "\u{1B}[0m"
        case .error: return "\u{1B}[31m" + text + "\u{1B}[0m"
        case .log: return "\u{1B}[2m" + text + "\u{1B}[0m"
        case .done: return text
        }
    }

    private func write(_ text: String) { writeAll(fd, text) }
}

/// Writes all of `text` to `fd` (retrying short writes and EINTR; an error drops the rest).
/// Writes all of `bytes` (retrying short writes and EINTR).
func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) {
    var offset = 0
    while offset < bytes.count {
        let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if n < 0 { if errno == EINTR { continue }; return }
        offset += n
    }
}

func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let n = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        if n < 0 { if errno == EINTR { continue }; return }
        offset += n
    }
}
