// Unprivileged sandbox mode: the kernel mounts squashfs only for the initial namespace's root, so
// the image is unpacked into the run's temporary directory with gvmc's own squashfs reader, and
// that tree is the overlay's lower layer.
import GVMI
import SquashFS

extension SandboxRun {
    func unpack(_ metadata: GVMIMetadata, to directory: String) throws(RunError) {
        do {
            let summary = try SquashFSReader(path: configuration.imagePath).unpack(to: directory)
            if !summary.skippedDevices.isEmpty {
                note(
                    "unprivileged: \(summary.skippedDevices.count) device node(s) of the image left out (a user namespace cannot make them): \(summary.skippedDevices.prefix(5).joined(separator: ", "))"
                )
            }
        } catch {
            throw .imageUnreadable(path: configuration.imagePath, unpacking: true, cause: error)
        }
    }
}
