// Run errors keep their cause: the squashfs reader's error of an unreadable image, the errno of
// a setup call that failed.
import Runtime
import SquashFS
import Testing

@Suite struct RunErrors {
    @Test func anUnreadableImageKeepsTheReadersError() {
        let cause = SquashFSError.corrupt(offset: 96, reason: "bad inode")
        let vm = RunError.imageUnreadable(path: "/i.gvmi", unpacking: false, cause: cause)
        #expect(vm.description == "/i.gvmi: corrupt squashfs at offset 96: bad inode")
        let unpacking = RunError.imageUnreadable(path: "/i.gvmi", unpacking: true, cause: cause)
        #expect(
            unpacking.description
                == "cannot unpack /i.gvmi (unprivileged runs read the image with gvmc's squashfs reader): corrupt squashfs at offset 96: bad inode"
        )
        guard case .imageUnreadable(_, _, let kept) = unpacking else { Issue.record("unexpected case"); return }
        #expect(kept == cause)
    }

    @Test func aFailedSetupCallKeepsItsErrno() {
        let error = RunError.system("cannot create /run/x", errno: 13)
        #expect(error.description == "cannot create /run/x: Permission denied")
        #expect(error == .system("cannot create /run/x", errno: 13))
    }
}
