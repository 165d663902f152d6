// The cache directory's layout, in one place (the registry client, the build and `gvmc prune`
// all read it from here):
//
//   blobs/sha256/<hex>          downloaded blobs (Registry's BlobCache)         only `prune --all`
//   steps[-userns-*]/<key>      step layers (Executor's step cache)            build cache
//   rootfs[-userns-*]/<id>      unpacked base images, shared read-only trees   build cache
//   blocks/<hex>                compressed squashfs blocks (SquashFS's store)  build cache
//   images/<hex>                whole squashfs images by tree (GVMI's store)    build cache
//   hashes/<hex>                hashes of images written, by inode (for push)   build cache
//   run-cache/                  RUN --mount=type=cache directories             only `prune --all`
//   golem-images/<sha3>.gvmi    images `gvmc run` pulled from the Golem registry only `prune --all`
//   golem-images/….partial      their interrupted downloads (resumed by the next pull; locked while written)
//   locks/                      flocks: `in-use` (builds shared, prune exclusive), per-entry locks
//
// Trees made in a user namespace get their own `-userns-<mapping>` areas: their owners are
// numbered differently.
/// The paths of a cache directory's parts (blobs, step layers, unpacked images, locks, ...).
public struct CacheLayout: Sendable, Equatable {
    public let directory: String

    public init(_ directory: String) { self.directory = directory }

    public var blobs: String { directory + "/blobs/sha256" }
    /// A blob by digest (`sha256:<hex>`).
    public func blob(_ digest: String) -> String { blobs + "/" + digest.dropFirst("sha256:".count) }
    public var locks: String { directory + "/locks" }
    public var inUseLock: String { locks + "/in-use" }
    public var runCache: String { directory + "/run-cache" }
    /// Images `gvmc run` pulled from the Golem registry, by hash, with their partial downloads.
    public var golemImages: String { directory + "/" + Self.golemImageArea }
    public var blocks: String { directory + "/blocks" }
    /// The hashes of images gvmc wrote or pushed, by the file's identity (GVMI's ImageHashStore).
    public var hashes: String { directory + "/hashes" }
    /// Squashfs images by the tree they hold; `idMapping` as for `steps`.
    public func images(idMapping: String?) -> String { directory + "/" + Self.area("images", idMapping) }
    /// Step layers; `idMapping` names the user namespace's mapping (nil: the host's ids).
    public func steps(idMapping: String?) -> String { directory + "/" + Self.area("steps", idMapping) }
    /// Unpacked base images, as `steps`.
    public func rootfs(idMapping: String?) -> String { directory + "/" + Self.area("rootfs", idMapping) }

    static func area(_ name: String, _ idMapping: String?) -> String { name + (idMapping.map { "-" + $0 } ?? "") }

    /// Whether a top-level name is an area of the build cache (pruned without `--all`).
    public static func isBuildCacheArea(_ name: String) -> Bool {
        name == "steps" || name.hasPrefix("steps-") || name == "rootfs" || name.hasPrefix("rootfs-") || name == "blocks"
            || name == "hashes" || name == "images" || name.hasPrefix("images-")
    }

    /// Whether an area's entries are single files written as `<name>.tmp-<pid>-…` and renamed
    /// (the block store and the image hashes), used when read as well as when written.
    public static func isFileArea(_ name: String) -> Bool { name == "blocks" || name == "hashes" }

    /// The areas `prune --all` adds (relative paths).
    public static let blobArea = "blobs/sha256"
    public static let runCacheArea = "run-cache"
    public static let golemImageArea = "golem-images"
}
