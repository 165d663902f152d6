// .dockerignore patterns with Docker's rules (moby/patternmatcher): one pattern per line, `#`
// comments, `!` exceptions (the last matching pattern wins), `*`/`?`/`[...]` within a path
// component and `**` across components; a pattern also matches everything below a matched directory.

public struct DockerIgnore: Sendable {
    struct Pattern: Sendable {
        var components: [String]
        var exclusion: Bool
    }
    let patterns: [Pattern]

    public init(text: String) {
        var patterns: [Pattern] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var line = raw.trimmingCharacters(in: " \t\r")
            if line.isEmpty || line.hasPrefix("#") { continue }
            var exclusion = false
            if line.hasPrefix("!") { exclusion = true; line = String(line.dropFirst()).trimmingCharacters(in: " \t") }
            let cleaned = normalize("/" + line).dropFirst()
            if cleaned.isEmpty { continue }
            patterns.append(Pattern(components: cleaned.split(separator: "/").map(String.init), exclusion: exclusion))
        }
        self.patterns = patterns
    }

    /// Patterns given one by one (COPY --exclude, the --parents source pattern): no comments.
    public init(patterns list: [String]) {
        var patterns: [Pattern] = []
        for raw in list {
            var line = raw
            var exclusion = false
            if line.hasPrefix("!") { exclusion = true; line = String(line.dropFirst()) }
            let cleaned = normalize("/" + line).dropFirst()
            if cleaned.isEmpty { continue }
            patterns.append(Pattern(components: cleaned.split(separator: "/").map(String.init), exclusion: exclusion))
        }
        self.patterns = patterns
    }

    public var isEmpty: Bool { patterns.isEmpty }

    /// Whether some pattern could match a path below the directory `path`: an exception (`!`)
    /// pattern when `exceptions`, else an ordinary one. An excluded directory is still read
    /// when an exception may re-include something inside it (as Docker does).
    public func mayMatch(below path: String, exceptions: Bool) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        return patterns.contains { $0.exclusion == exceptions && DockerIgnore.matchesBelow($0.components[...], parts[...]) }
    }

    static func matchesBelow(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let head = path.first else { return !pattern.isEmpty }
        guard let first = pattern.first else { return false }
        if first == "**" { return true }
        guard glob(Array(first.unicodeScalars)[...], Array(head.unicodeScalars)[...]) else { return false }
        return matchesBelow(pattern.dropFirst(), path.dropFirst())
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    public func excludes(_ path: String) -> Bool {
        let parts = path.split(separator: "/").map(String.init)
        var excluded = false
        for p in patterns {
            // A match of the path or of any parent directory.
            var hit = false
            for n in stride(from: parts.count, through: 1, by: -1) where DockerIgnore.match(p.components[...], parts[0..<n]) {
                hit = true
                break
            }
            if hit { excluded = !p.exclusion }
        }
        return excluded
    }

    /// Whether `path` or one of its parent directories matches a pattern (include patterns).
    public func matches(_ path: String) -> Bool { excludes(path) }

    public static func match(_ pattern: ArraySlice<String>, _ path: ArraySlice<String>) -> Bool {
        guard let first = pattern.first else { return path.isEmpty }
        if first == "**" {
            let rest = pattern.dropFirst()
            for k in path.startIndex...path.endIndex where match(rest, path[k...]) { return true }
            return false
        }
        guard let head = path.first, glob(Array(first.unicodeScalars)[...], Array(head.unicodeScalars)[...]) else { return false }
        return match(pattern.dropFirst(), path.dropFirst())
    }

    /// filepath.Match for one component.
    public static func glob(_ p: ArraySlice<Unicode.Scalar>, _ s: ArraySlice<Unicode.Scalar>) -> Bool {
        var p = p, s = s
        while let c = p.first {
            switch c {
            case "*":
                let rest = p.dropFirst()
                for k in s.startIndex...s.endIndex where glob(rest, s[k...]) { return true }
                return false
            case "?":
                guard !s.isEmpty else { return false }
                p = p.dropFirst(); s = s.dropFirst()
            case "[":
                guard let ch = s.first, let close = p.dropFirst().firstIndex(of: "]") else { return false }
                var set = p[(p.startIndex + 1)..<close]
                var negate = false
                if let f = set.first, f == "^" || f == "!" { negate = true; set = set.dropFirst() }
                var matched = false
                var i = set.startIndex
                while i < set.endIndex {
                    if i + 2 < set.endIndex, set[i + 1] == "-" {
                        if set[i].value <= ch.value && ch.value <= set[i + 2].value { matched = true }
                        i += 3
                    } else {
                        if set[i] == ch { matched = true }
                        i += 1
                    }
                }
                guard matched != negate else { return false }
                p = p[(close + 1)...]; s = s.dropFirst()
            case "\\":
                let q = p.dropFirst()
                guard let lit = q.first, s.first == lit else { return false }
                p = q.dropFirst(); s = s.dropFirst()
            default:
                guard s.first == c else { return false }
                p = p.dropFirst(); s = s.dropFirst()
            }
        }
        return s.isEmpty
    }
}
