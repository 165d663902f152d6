// `--progress rawjson` lines come from Encodable types now; each must have the bytes the
// JSONSerialization writer of [String: Any] objects gave.
import Foundation
@testable import Progress
import Testing

@Suite struct SolveStatusLines {
    func old(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self) + "\n"
    }

    @Test func everyKindOfLineHasTheOldBytes() throws {
        let t = "2024-01-02T03:04:05.678Z"
        let vertex = SolveStatusLine(vertexes: [
            .init(digest: "sha256:ab", name: "RUN echo \"a/b\" é", started: t, completed: t, cached: true, error: "x")
        ])
        #expect(
            vertex.line()
                == (try old([
                    "vertexes": [
                        [
                            "digest": "sha256:ab", "name": "RUN echo \"a/b\" é", "started": t, "completed": t,
                            "cached": true, "error": "x"
                        ] as [String: Any]
                    ]
                ])))
        let running = SolveStatusLine(vertexes: [.init(digest: "sha256:ab", name: "COPY . /app", started: t)])
        #expect(running.line() == (try old(["vertexes": [["digest": "sha256:ab", "name": "COPY . /app", "started": t]]])))
        let transfer = SolveStatusLine(statuses: [
            .init(id: "sha256:cd", vertex: "sha256:ab", current: 5, total: 1 << 33, timestamp: t, started: t)
        ])
        #expect(
            transfer.line()
                == (try old([
                    "statuses": [
                        [
                            "id": "sha256:cd", "vertex": "sha256:ab", "current": Int64(5), "total": Int64(1 << 33),
                            "timestamp": t, "started": t
                        ] as [String: Any]
                    ]
                ])))
        let status = SolveStatusLine(statuses: [.init(id: "sha3-224 ff done", vertex: "sha256:ab", timestamp: t)])
        #expect(status.line() == (try old(["statuses": [["id": "sha3-224 ff done", "vertex": "sha256:ab", "timestamp": t]]])))
        let log = SolveStatusLine(logs: [.init(vertex: "sha256:ab", stream: 2, data: "aGkK", timestamp: t)])
        #expect(log.line() == (try old(["logs": [["vertex": "sha256:ab", "stream": 2, "data": "aGkK", "timestamp": t] as [String: Any]]])))
    }
}
