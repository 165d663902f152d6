// `USER/REPOSITORY:TAG`, the names a Golem registry tags images with, by gvmkit-build's rules
// (src/image/name.rs): only [A-Za-z0-9._-] in each part, one `/` and one `:` at most, tag
// `latest` when none is given.

/// A Golem registry image name, `[USER/]REPOSITORY[:TAG]`, checked as gvmkit-build checks it.
public struct GolemImageName: Sendable, Equatable, CustomStringConvertible {
    public var user: String?
    public var repository: String
    public var tag: String

    public init(_ text: String) throws(GolemRegistryError) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
        var rest = Substring(text)
        if let colon = rest.firstIndex(of: ":") {
            tag = String(rest[rest.index(after: colon)...])
            rest = rest[..<colon]
        } else {
            tag = "latest"
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { throw .invalidImageName(text, reason: "more than one /") }
        user = parts.count == 2 ? String(parts[0]) : nil
        repository = String(parts.last!)
        for (part, what) in [(user ?? "x", "user"), (repository, "repository"), (tag, "tag")] {
            guard !part.isEmpty else { throw .invalidImageName(text, reason: "empty \(what)") }
            guard part.allSatisfy(allowed.contains) else {
                throw .invalidImageName(text, reason: "the \(what) may hold only letters, digits, '.', '_' and '-'")
            }
        }
    }

    /// Whether `text` reads as an image name with a user (so `--push alice/app:1.0` can be told
    /// from `--push` followed by a context path).
    public static func looksLikeTaggedName(_ text: String) -> Bool {
        guard let name = try? GolemImageName(text) else { return false }
        return name.user != nil
    }

    public var description: String { "\(user.map { $0 + "/" } ?? "")\(repository):\(tag)" }
}
