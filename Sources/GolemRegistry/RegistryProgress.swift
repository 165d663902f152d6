// What a push or pull reports while it works, for a display to draw (the CLI shows it as BuildKit
// vertices with transfer bars). GolemRegistry itself prints nothing.

/// Callbacks of a push or pull; each may be called from any thread (chunks upload in parallel).
public struct RegistryProgress: Sendable {
    /// The parts of a push or pull, in the order they happen.
    public enum Phase: Sendable, Hashable {
        /// push: the file checked as `gvmc inspect` checks it, and the credentials.
        case checking
        /// push: the file read to compute its descriptor (not when the build gave the descriptor).
        case hashing
        /// push: the descriptor, the chunks the registry lacks, its completion check and the tag.
        case uploading
        /// pull: the tag or hash looked up.
        case resolving
        /// pull: the image's bytes.
        case downloading
    }

    /// A phase begins (the one before it has ended).
    public var phase: @Sendable (Phase) -> Void
    /// Bytes of the current phase hashed, sent or received so far, of `total` (0 when unknown);
    /// never decreasing, except after a download starts over.
    public var bytes: @Sendable (_ done: UInt64, _ total: UInt64) -> Void

    public init(phase: @escaping @Sendable (Phase) -> Void = { _ in }, bytes: @escaping @Sendable (UInt64, UInt64) -> Void = { _, _ in }) {
        self.phase = phase
        self.bytes = bytes
    }

    /// Nothing reported.
    public static let quiet = RegistryProgress()
}
