// The boot files of a Golem image: the last thing written into every .gvmi that build and
// convert make, before the trailer.
import SquashFS

/// What Golem's VM init needs and `docker export` would add: /proc, /sys, /dev, /tmp, /var/tmp,
/// /etc with regular hosts, resolv.conf and hostname (GOLEM.md §1.3).
public enum BootFiles {
    static let files: [(String, String)] = [
        ("etc/hosts", "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"),
        ("etc/resolv.conf", ""), ("etc/hostname", "golem\n")
    ]

    /// The sizes of the files `add` may write, for the writer's size census
    /// (SquashFSWriter.laterFileSizes), so deduplication sees them as the tree's files are added.
    public static var fileSizes: [UInt64] { files.map { UInt64($0.1.utf8.count) } }

    /// Adds what is missing of them to an image being written (existing entries are kept).
    public static func add(to writer: SquashFSWriter) throws {
        let dir = EntryMetadata(permissions: 0o755)
        for path in ["proc", "sys", "dev", "etc", "var", "var/tmp"] where !writer.contains(try EntryPath(path)) {
            try writer.add(try EntryPath(path), .directory, metadata: path == "var/tmp" ? EntryMetadata(permissions: 0o1777) : dir)
        }
        if !writer.contains(try EntryPath("tmp")) {
            try writer.add(try EntryPath("tmp"), .directory, metadata: EntryMetadata(permissions: 0o1777))
        }
        for (path, content) in files where !writer.isRegularFile(try EntryPath(path)) {
            try writer.addFile(try EntryPath(path), metadata: EntryMetadata(permissions: 0o644), contents: Array(content.utf8))
        }
    }
}
