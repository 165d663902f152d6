// Unprivileged sandbox mode: the kernel mounts squashfs only for the initial namespace's root, so
// the image is unpacked into a temporary directory with gvmc's own squashfs reader instead.
import GVMI
import SquashFS

extension SandboxRun {
    func unpack(_ metadata: GVMIMetadata, to directory: String) throws(RunError) {
        throw .setup("unprivileged runs are not supported yet: run gvmc run as root")
    }
}
