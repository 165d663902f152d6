// One line of `--progress rawjson`: BuildKit's SolveStatus shape (vertexes, statuses, logs), as
// `buildctl --progress rawjson` prints it; compact JSON, keys sorted.
import Foundation

/// A SolveStatus with one vertex, one status or one log.
struct SolveStatusLine: Encodable {
    struct Vertex: Encodable {
        var digest: String
        var name: String
        var started: String
        var completed: String?
        /// Present (true) only for a cached vertex.
        var cached: Bool?
        var error: String?
    }

    /// A transfer's progress (`current`, `total`, `started`, `completed`) or a status line (`id` only).
    struct Status: Encodable {
        var id: String
        var vertex: String
        var current: Int64?
        var total: Int64?
        var timestamp: String
        var started: String?
        var completed: String?
    }

    struct Log: Encodable {
        var vertex: String
        var stream: Int
        /// base64 of the bytes.
        var data: String
        var timestamp: String
    }

    var vertexes: [Vertex]?
    var statuses: [Status]?
    var logs: [Log]?

    /// The line, newline included: compact, keys sorted, `/` escaped (as gvmc always wrote it).
    func line() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        // Only strings, integers and booleans: nothing the encoder refuses.
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self) + "\n"
    }
}
