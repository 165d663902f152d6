// The image's VOLUMEs as a provider mounts them: each one an empty host directory (so whatever
// the image has there is hidden), or a directory the user binds with -v (GOLEM.md §1.4).
#if canImport(Glibc)
import Glibc
#endif

/// One volume: its path in the image and the host directory behind it.
public struct PlannedVolume: Sendable, Equatable {
    public var path: String
    public var hostDirectory: String
    /// Given with -v (never removed by gvmc), rather than made fresh under the work directory.
    public var bound: Bool
}

/// Checks the image's VOLUMEs and plans the host directory behind each one.
public enum VolumePlan {
    /// Checks the image's volume paths as Golem's guest init does (absolute, no empty, `.` or
    /// `..` component, not `/`): a path it refuses makes a provider fail the image's start.
    public static func checkDeclared(_ path: String) throws(RunError) {
        guard path.hasPrefix("/") else {
            throw .badVolumePath(
                path, reason: "not an absolute path; Golem's runtime refuses it and the image does not start on a provider")
        }
        guard path != "/" else { throw .badVolumePath(path, reason: "/ cannot be a host volume; Golem's runtime refuses it") }
        let parts = path.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        if parts.contains(where: { $0.isEmpty || $0 == "." || $0 == ".." }) {
            throw .badVolumePath(
                path,
                reason:
                    "has an empty, . or .. component (a trailing slash counts); Golem's guest init refuses it with EINVAL and the image does not start on a provider — write it as /\(parts.filter { !$0.isEmpty && $0 != "." }.joined(separator: "/"))"
            )
        }
    }

    /// `HOST_DIR:VOLUME` (split at the last colon); HOST_DIR made absolute and checked.
    public static func parseBinding(_ text: String) throws(RunError) -> (host: String, volume: String) {
        guard let colon = text.lastIndex(of: ":") else { throw .badBinding(text, reason: "expected HOST_DIR:VOLUME") }
        let host = String(text[..<colon]), volume = String(text[text.index(after: colon)...])
        guard !host.isEmpty, !volume.isEmpty else { throw .badBinding(text, reason: "expected HOST_DIR:VOLUME") }
        guard let resolved = realpath(host, nil) else {
            throw .badBinding(text, reason: "\(host): \(String(cString: strerror(errno)))")
        }
        defer { free(resolved) }
        var st = stat()
        guard stat(resolved, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw .badBinding(text, reason: "\(host) is not a directory")
        }
        return (String(cString: resolved), volume)
    }

    /// Every declared volume with its host directory: a -v binding, else `workdir/vol-N` (the
    /// caller creates those). Sorted by path, so a volume inside another is mounted after it.
    public static func plan(declared: [String], bindings: [String], workdir: String) throws(RunError) -> [PlannedVolume] {
        for path in declared { try checkDeclared(path) }
        var bound: [String: String] = [:]
        for text in bindings {
            let (host, volume) = try parseBinding(text)
            let normal = volume.count > 1 && volume.hasSuffix("/") ? String(volume.dropLast()) : volume
            guard let match = declared.first(where: { $0 == volume || $0 == normal }) else {
                throw .notAVolume(volume, declared: declared.sorted())
            }
            bound[match] = host
        }
        return declared.sorted().enumerated().map { i, path in
            if let host = bound[path] { return PlannedVolume(path: path, hostDirectory: host, bound: true) }
            let tail = path.split(separator: "/").joined(separator: "_")
            return PlannedVolume(path: path, hostDirectory: workdir + "/vol-\(i)-" + tail, bound: false)
        }
    }
}
