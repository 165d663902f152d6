// A layer error keeps the errno of the call that failed, beside the message naming the layer.
import Glibc
@testable import Layers
import Testing

@Suite struct LayerErrors {
    @Test func aLayerThatCannotBeOpenedKeepsItsErrno() {
        do {
            _ = try TarReader(path: "/nonexistent/layer.tar", name: "sha256:abc")
            Issue.record("a missing layer opened")
        } catch {
            guard case .cannotOpen(let layer, let path, let e) = error.kind else {
                Issue.record("unexpected kind: \(error)"); return
            }
            #expect(layer == "sha256:abc" && path == "/nonexistent/layer.tar" && e == ENOENT)
            #expect(error.errno == ENOENT)
            #expect(error.description == "sha256:abc: cannot open /nonexistent/layer.tar: No such file or directory")
        }
    }

    @Test func aFailedWriteNamesTheEntryAndKeepsTheErrno() {
        let error = LayerError(.system(subject: "/etc/x", operation: "write", errno: ENOSPC))
        #expect(error.errno == ENOSPC)
        #expect(error.description == "/etc/x: write failed: No space left on device")
    }
}
