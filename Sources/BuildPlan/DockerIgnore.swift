// .dockerignore patterns with Docker's rules (moby/patternmatcher): one pattern per line, `#`
// comments, `!` exceptions (the last matching pattern wins), `*`/`?`/`[...]` within a path
// component and `**` across components; a pattern also matches everything below a matched directory.

/// A parsed `.dockerignore`: which context paths a build leaves out.
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
        // `**` is a star over whole components; any other component matches exactly one.
        wildcardMatch(
            pattern, path, isStar: { pattern[$0] == "**" },
            step: { i, component in
                glob(Array(pattern[i].unicodeScalars)[...], Array(component.unicodeScalars)[...]) ? i + 1 : nil
            })
    }

    /// Wildcard matching with a single backtracking point (the classic greedy algorithm): a star
    /// first matches nothing and takes one more item each time what follows fails. `step(i, item)`
    /// matches the non-star token at `i` against one item and returns the next token's index.
    /// Pattern length × subject length steps, where trying every split for every star (as this
    /// did before) is exponential: `*a*a*a*…b` against `aaaa…`, or a run of `**` components, from a
    /// .dockerignore of a few hundred bytes kept a build busy for minutes.
    static func wildcardMatch<P: Collection, S: Collection>(
        _ p: P, _ s: S, isStar: (P.Index) -> Bool,
        step: (P.Index, S.Element) -> P.Index?
    ) -> Bool {
        var pi = p.startIndex, si = s.startIndex
        var resume: (p: P.Index, s: S.Index)?
        while si != s.endIndex {
            if pi != p.endIndex, isStar(pi) {
                pi = p.index(after: pi)
                resume = (pi, si)
            } else if pi != p.endIndex, let next = step(pi, s[si]) {
                pi = next
                si = s.index(after: si)
            } else if let r = resume {
                // The last star takes one more item (r.s ≤ si < endIndex); earlier stars never need
                // to: the tokens between them matched at their leftmost place.
                let retry = s.index(after: r.s)
                resume = (r.p, retry)
                pi = r.p
                si = retry
            } else {
                return false
            }
        }
        while pi != p.endIndex, isStar(pi) { pi = p.index(after: pi) }
        return pi == p.endIndex
    }

    /// filepath.Match for one component.
    public static func glob(_ p: ArraySlice<Unicode.Scalar>, _ s: ArraySlice<Unicode.Scalar>) -> Bool {
        wildcardMatch(
            p, s, isStar: { p[$0] == "*" },
            step: { i, ch in
                switch p[i] {
                case "?":
                    return i + 1
                case "[":
                    guard let close = p[(i + 1)...].firstIndex(of: "]") else { return nil }
                    var set = p[(i + 1)..<close]
                    var negate = false
                    if let f = set.first, f == "^" || f == "!" { negate = true; set = set.dropFirst() }
                    var matched = false
                    var j = set.startIndex
                    while j < set.endIndex {
                        if j + 2 < set.endIndex, set[j + 1] == "-" {
                            if set[j].value <= ch.value && ch.value <= set[j + 2].value { matched = true }
                            j += 3
                        } else {
                            if set[j] == ch { matched = true }
                            j += 1
                        }
                    }
                    return matched != negate ? close + 1 : nil
                case "\\":
                    guard i + 1 < p.endIndex, p[i + 1] == ch else { return nil }
                    return i + 2
                default:
                    return p[i] == ch ? i + 1 : nil
                }
            })
    }
}
