// A sandbox error says what kind of failure it is and keeps the errno of a failed call.
import Glibc
import Sandbox
import Testing

@Suite struct SandboxErrors {
    @Test func aRelativeRootfsIsAnInvalidSpec() {
        do {
            _ = try Sandbox.run(SandboxSpec(rootfs: "relative", arguments: ["/bin/true"], environment: []))
            Issue.record("a relative rootfs ran")
        } catch {
            guard case .invalidSpec = error.kind else { Issue.record("unexpected kind: \(error)"); return }
            #expect(error.description == "rootfs relative must be an absolute path")
            #expect(error.errno == nil)
        }
    }

    @Test func aMountTargetThatCannotBeMadeKeepsTheErrno() {
        let error = SandboxError(.mountTarget(target: "/cache", reason: "cannot create it", errno: EROFS))
        #expect(error.errno == EROFS)
        #expect(error.description == "RUN --mount target /cache: cannot create it: Read-only file system")
    }
}
