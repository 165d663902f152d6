// Rules that need the built root filesystem or the written image: GVM018 (boot needs),
// GVM005 on the tree (content under a volume, whatever put it there), GVM020 (size),
// GVM021 (compressor). Used by `gvmc lint --image`, and by build and convert.
import SquashFS

/// The lint rules checked on a built root filesystem or written image (GVM005, GVM018, GVM020, GVM021).
public enum ImageRules {
    public static func check(
        entries: [ImageEntry], volumes: [String], compression: Compression?, imageSize: UInt64?,
        file: String
    ) -> [Finding] {
        var findings: [Finding] = []
        func add(_ rule: String, _ message: String) {
            findings.append(Finding(rule: rule, severity: RuleCatalog.rule(rule).severity, message: message, file: file, line: 1))
        }
        var byPath: [String: ImageEntry] = [:]
        for e in entries { byPath[e.path] = e }
        for dir in ["/etc", "/proc", "/sys"] {
            guard let e = byPath[dir] else { add("GVM018", "\(dir) is missing: the VM init aborts"); continue }
            if e.kind != .directory { add("GVM018", "\(dir) is not a directory: the VM init aborts") }
        }
        for f in ["/etc/hosts", "/etc/resolv.conf"] {
            guard let e = byPath[f] else { add("GVM018", "\(f) is missing: the VM init writes it and aborts if it cannot"); continue }
            if e.kind == .symlink {
                add("GVM018", "\(f) is a symlink (-> \(e.symlinkTarget ?? "?")); the VM init needs a regular file")
            } else if e.kind != .file {
                add("GVM018", "\(f) is not a regular file")
            }
        }
        for tmpDir in ["/var", "/var/tmp"] where byPath[tmpDir].map({ $0.kind != .directory }) ?? false {
            add("GVM018", "\(tmpDir) is not a real directory; the guest agent creates /var/tmp/guest_agent_private there")
        }
        if let root = byPath["/"], root.permissions & 0o005 != 0o005 {
            add(
                "GVM018",
                "the root directory has mode \(String(root.permissions, radix: 8)); older providers copy it, so non-root processes cannot use / (use 755)"
            )
        }
        for volume in volumes {
            // A volume path must not cross a symlink (the guest opens components with O_NOFOLLOW).
            var prefix = ""
            for component in volume.split(separator: "/") {
                prefix += "/" + component
                if let e = byPath[prefix], e.kind == .symlink {
                    add("GVM018", "VOLUME \(volume) crosses the symlink \(prefix) -> \(e.symlinkTarget ?? "?"); the mount fails")
                    break
                }
            }
            let inside = entries.filter { $0.path.hasPrefix(volume + "/") }
            if let first = inside.first {
                add(
                    "GVM005",
                    "content placed in \"\(first.printablePath)\" (\(inside.count) entr\(inside.count == 1 ? "y" : "ies") under \(volume)) is hidden at runtime: VOLUME \"\(volume)\" is mounted over it as an empty host directory"
                )
            }
        }
        if let imageSize, imageSize > 1 << 30 {
            add("GVM020", ".gvmi is \(imageSize / (1 << 20)) MiB (over 1 GiB): provider downloads are slow and may time out")
        }
        if let compression, !compression.readableByGolem {
            add("GVM021", "squashfs compressor \(compression.rawValue) is not supported by Golem's guest kernel")
        }
        return findings
    }
}
