// The flattened root filesystem of an image, computed from its layers' headers alone (pass 1):
// OCI whiteouts and opaque directories, hardlinks, entries replacing one another, and every path
// resolved inside the root. Regular files remember which layer entry holds their bytes, so pass 2
// reads each final file once — into a directory or straight into the squashfs writer.
import SquashFS

/// Where a regular file's content is: entry number `entry` of layer `layer`.
public struct DataSource: Sendable, Hashable {
    public var layer: Int
    public var entry: Int
}

/// One entry of the flattened tree: its kind, metadata and (for a directory) its children.
public final class LayerNode {
    /// What the entry is, with where a file's content is, a symlink's target or a device's numbers.
    public enum Kind {
        case directory
        case file(DataSource, size: Int64)
        case symlink([UInt8])
        case characterDevice(UInt32, UInt32)
        case blockDevice(UInt32, UInt32)
        case fifo
        case socket
    }
    public internal(set) var kind: Kind
    public internal(set) var metadata: EntryMetadata
    /// Directories only; names are raw bytes.
    public internal(set) var children: [[UInt8]: LayerNode] = [:]
    /// The layer that last placed this node (opaque directories hide older children).
    var layer: Int

    init(kind: Kind, metadata: EntryMetadata, layer: Int) {
        self.kind = kind
        self.metadata = metadata
        self.layer = layer
    }

    public var isDirectory: Bool { if case .directory = kind { return true }; return false }
}

/// The flattened root filesystem of an image, built from its layers' tar headers.
public struct LayerTree {
    public let root = LayerNode(kind: .directory, metadata: EntryMetadata(permissions: 0o755), layer: -1)

    public init() {}

    static let whiteoutPrefix: [UInt8] = Array(".wh.".utf8)
    static let opaqueName: [UInt8] = Array(".wh..wh..opq".utf8)
    public static let maxSymlinkHops = 40

    /// Splits an entry name into components: leading `/` and `./` dropped, `.` ignored, `..`
    /// allowed only while it stays inside the root.
    static func components(_ raw: [UInt8], layer: String, entry: [UInt8], linkTarget: Bool = false) throws(LayerError) -> [[UInt8]] {
        var out: [[UInt8]] = []
        for part in raw.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true) {
            if part.count == 1 && part[part.startIndex] == UInt8(ascii: ".") { continue }
            if part.count == 2 && part.allSatisfy({ $0 == UInt8(ascii: ".") }) {
                guard !out.isEmpty else {
                    let what = linkTarget ? "hardlink target \"\(String(decoding: raw, as: UTF8.self))\"" : "path"
                    throw LayerError(
                        "\(layer): entry \"\(String(decoding: entry, as: UTF8.self))\": \(what) points outside the root filesystem")
                }
                out.removeLast()
                continue
            }
            out.append(Array(part))
        }
        return out
    }

    /// Applies one layer's headers. `index` orders layers bottom (0) to top.
    public mutating func apply(_ reader: TarReader, layer index: Int, name: String) throws(LayerError) {
        var ordinal = -1
        while let entry = try reader.next() {
            ordinal += 1
            try apply(entry, layer: index, ordinal: ordinal, name: name)
        }
    }

    func where_(_ name: String, _ e: TarEntry) -> String { "\(name): entry \"\(e.pathString)\"" }

    mutating func apply(_ e: TarEntry, layer: Int, ordinal: Int, name: String) throws(LayerError) {
        let parts = try LayerTree.components(e.path, layer: name, entry: e.path)
        guard let last = parts.last else {
            // The root itself: only its metadata can change.
            if e.kind == .directory { root.metadata = try metadata(e, name) }
            return
        }
        // Whiteouts hide what lower layers put there (and create nothing when there is nothing).
        if last.starts(with: LayerTree.whiteoutPrefix) {
            guard let parent = try? resolveParent(Array(parts.dropLast()), create: false, layer: layer, context: "") else { return }
            try applyWhiteout(last, in: parent, layer: layer, context: where_(name, e))
            return
        }
        let parent = try resolveParent(Array(parts.dropLast()), create: true, layer: layer, context: where_(name, e))
        guard last.count <= 255 else { throw LayerError("\(where_(name, e)): name longer than 255 bytes") }
        let meta = try metadata(e, name)
        let node: LayerNode
        switch e.kind {
        case .directory:
            if let existing = parent.children[last], existing.isDirectory {
                existing.metadata = meta
                existing.layer = layer
                return
            }
            node = LayerNode(kind: .directory, metadata: meta, layer: layer)
        case .file:
            guard e.size >= 0 else { throw LayerError("\(where_(name, e)): negative size") }
            node = LayerNode(kind: .file(DataSource(layer: layer, entry: ordinal), size: e.size), metadata: meta, layer: layer)
        case .symlink:
            guard !e.linkTarget.isEmpty else { throw LayerError("\(where_(name, e)): symlink with an empty target") }
            node = LayerNode(kind: .symlink(e.linkTarget), metadata: meta, layer: layer)
        case .hardlink:
            let targetParts = try LayerTree.components(e.linkTarget, layer: name, entry: e.path, linkTarget: true)
            guard let tname = targetParts.last else { throw LayerError("\(where_(name, e)): hardlink to the root directory") }
            let tparent = try resolveParent(Array(targetParts.dropLast()), create: false, layer: layer, context: where_(name, e))
            guard let target = tparent.children[tname] else {
                throw LayerError("\(where_(name, e)): hardlink target \"\(String(decoding: e.linkTarget, as: UTF8.self))\" does not exist")
            }
            guard !target.isDirectory else {
                throw LayerError("\(where_(name, e)): hardlink target \"\(String(decoding: e.linkTarget, as: UTF8.self))\" is a directory")
            }
            if let existing = parent.children[last], existing === target { return }
            parent.children[last] = target
            return
        case .characterDevice: node = LayerNode(kind: .characterDevice(e.major, e.minor), metadata: meta, layer: layer)
        case .blockDevice: node = LayerNode(kind: .blockDevice(e.major, e.minor), metadata: meta, layer: layer)
        case .fifo: node = LayerNode(kind: .fifo, metadata: meta, layer: layer)
        case .socket: node = LayerNode(kind: .socket, metadata: meta, layer: layer)
        }
        // A new entry replaces whatever was there (a directory with its whole subtree).
        parent.children[last] = node
    }

    func applyWhiteout(_ name: [UInt8], in parent: LayerNode, layer: Int, context: String) throws(LayerError) {
        if name == LayerTree.opaqueName {
            for (k, child) in parent.children where child.layer < layer { parent.children[k] = nil }
            return
        }
        let hidden = Array(name.dropFirst(LayerTree.whiteoutPrefix.count))
        guard !hidden.isEmpty else { throw LayerError("\(context): empty whiteout name") }
        parent.children[hidden] = nil
    }

    func metadata(_ e: TarEntry, _ name: String) throws(LayerError) -> EntryMetadata {
        guard e.uid >= 0, e.uid <= Int64(UInt32.max), e.gid >= 0, e.gid <= Int64(UInt32.max) else {
            throw LayerError("\(where_(name, e)): owner \(e.uid):\(e.gid) is out of range")
        }
        return EntryMetadata(
            permissions: e.mode, uid: UInt32(e.uid), gid: UInt32(e.gid), mtime: e.mtime,
            xattrs: e.xattrs.sorted { $0.name.lexicographicallyPrecedes($1.name) })
    }

    /// Walks `parts` from the root as a chrooted process would: symlinks are followed, absolute
    /// targets restart at the root, `..` stops at the root — nothing can lead outside. Missing
    /// directories are created (as tar does) when `create` is set.
    func resolveParent(_ parts: [[UInt8]], create: Bool, layer: Int, context: String) throws(LayerError) -> LayerNode {
        var stack: [LayerNode] = [root]
        var pending = Array(parts.reversed())
        var hops = 0
        while let part = pending.popLast() {
            let dir = stack.last!
            if part == [UInt8(ascii: ".")] { continue }
            if part == [UInt8(ascii: "."), UInt8(ascii: ".")] {
                if stack.count > 1 { stack.removeLast() }
                continue
            }
            guard let child = dir.children[part] else {
                guard create else { throw LayerError("\(context): directory \"\(String(decoding: part, as: UTF8.self))\" does not exist") }
                let made = LayerNode(kind: .directory, metadata: EntryMetadata(permissions: 0o755), layer: layer)
                dir.children[part] = made
                stack.append(made)
                continue
            }
            switch child.kind {
            case .directory:
                stack.append(child)
            case .symlink(let target):
                hops += 1
                guard hops <= LayerTree.maxSymlinkHops else { throw LayerError("\(context): too many levels of symbolic links") }
                if target.first == UInt8(ascii: "/") { stack = [root] }
                for t in target.split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: true).reversed() {
                    pending.append(Array(t))
                }
            default:
                throw LayerError("\(context): \"\(String(decoding: part, as: UTF8.self))\" is not a directory")
            }
        }
        return stack.last!
    }

    /// Every node once, in sorted path order, with every path that names it (hardlinks share a
    /// node). `visit(path, node, firstPath)`: firstPath is nil the first time a node is seen.
    public func walk(_ visit: ([[UInt8]], LayerNode, [[UInt8]]?) throws -> Void) rethrows {
        var seen: [ObjectIdentifier: [[UInt8]]] = [:]
        func recurse(_ node: LayerNode, _ path: [[UInt8]]) throws {
            for name in node.children.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
                let child = node.children[name]!
                let p = path + [name]
                if child.isDirectory {
                    try visit(p, child, nil)
                    try recurse(child, p)
                } else if let first = seen[ObjectIdentifier(child)] {
                    try visit(p, child, first)
                } else {
                    seen[ObjectIdentifier(child)] = p
                    try visit(p, child, nil)
                }
            }
        }
        try recurse(root, [])
    }

    /// For each regular file's data source, the path it is first reachable at.
    public func fileSources() -> [DataSource: (path: [[UInt8]], node: LayerNode)] {
        var out: [DataSource: (path: [[UInt8]], node: LayerNode)] = [:]
        walk { path, node, first in
            if first == nil, case .file(let source, _) = node.kind { out[source] = (path, node) }
        }
        return out
    }
}
