// Which ya-runtime-vm a run imitates: the two releases providers run differ in what a process
// gets as its environment and in how big the RAM overlay over the image is (GOLEM.md §1.3, §1.6).

/// A ya-runtime-vm release line, as `--golem-runtime` names it.
public enum GolemRuntimeVersion: String, Sendable, CaseIterable {
    /// 0.4.x: processes get the image's `Env`; the overlay's upper layer is a 128 MiB tmpfs.
    case v0_4 = "0.4"
    /// 0.5.x (what current providers run): processes start with an empty environment (init.c
    /// calls `execve(bin, argv, envp ? NULL : environ)`); the overlay lives on the initramfs
    /// tmpfs, whose size is the kernel's default, half the VM's memory.
    case v0_5 = "0.5"

    /// What current providers run.
    public static let current = GolemRuntimeVersion.v0_5

    /// The size of the RAM layer written files go to, for a VM of `memoryBytes`.
    public func overlayBytes(memoryBytes: UInt64) -> UInt64 {
        switch self {
        case .v0_4: return 128 << 20
        case .v0_5: return memoryBytes / 2
        }
    }

    /// Whether processes see the image's `Env` (and the requestor's variables) at all.
    public var passesEnvironment: Bool { self == .v0_4 }
}
