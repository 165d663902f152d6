// A push as the commands show and report it: on the one progress display (`RegistryDisplay`),
// with the user's credentials looked up and named, and the result in the forms the commands
// print and write (the lines a requestor needs, gvmkit-build's info JSON, the metadata object).
// The CLI parses flags and prints what this gives.
import Foundation
import GVMI
import ImageSpec
import Progress

/// A push as the commands run and report it: credentials, progress display and result forms.
public enum Publishing {
    /// `url` without trailing slashes, as the registry's URLs are joined to it.
    public static func trimmedRegistry(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }

    /// Credentials for `registry` (environment, then `gvmc login`'s file), saying where they came
    /// from in `note`; nil when there are none.
    public static func credentials(for registry: String, note: (String) -> Void) throws(GolemRegistryError) -> RegistryCredentials? {
        guard let (credentials, source) = try GolemCredentialStore().resolve(registry: trimmedRegistry(registry)) else { return nil }
        note("using the credentials of \(credentials.username) from \(source)")
        return credentials
    }

    /// Pushes `path`, shown on `display` after the vertices already there: `[internal] checking`,
    /// `hashing` (unless the descriptor is `known` or recorded) and `pushing to REGISTRY` with the
    /// upload's bar. A failure ends the vertex with ERROR, is printed after the display as
    /// `error: ...`, and is thrown.
    public static func push(
        _ path: String, name: GolemImageName?, options: PushOptions, display: BuildProgress,
        known: ImageDescriptor? = nil
    ) throws(GolemRegistryError) -> PushResult {
        let shown = RegistryDisplay(
            display,
            names: [
                .checking: "[internal] checking \(path)",
                .hashing: "hashing \(path)",
                .uploading: "pushing to \(trimmedRegistry(options.registry))" + (name.map { " as \($0)" } ?? "")
            ])
        var options = options
        options.progress = shown.progress
        options.log = { shown.log($0) }
        do throws(GolemRegistryError) {
            let credentials = name == nil ? nil : try credentials(for: options.registry) { shown.log($0) }
            let r = try ImagePush.push(path: path, name: name, credentials: credentials, options: options, known: known)
            shown.finish()
            return r
        } catch {
            shown.fail("\(error)")
            throw error
        }
    }
}

extension PushResult {
    /// What a requestor needs to use the image, as the commands print it (quiet too).
    public var resultLines: [String] {
        [
            "pushed \(path) to \(registry) (\(chunksSent) of \(chunkCount) chunks sent)",
            "  image hash    \(sha3)",
            "  download URL  \(downloadURL)",
            "  task package  \(taskPackage)",
            "  tag           \(name.map { $0.description } ?? "none (anonymous upload, named by its hash)")"
        ]
    }

    /// What `build`/`convert --extra-json-info-path` adds after a push.
    public var info: [String: String] {
        var info = ["download_url": downloadURL, "task_package": taskPackage, "descriptor_sha256": descriptorID, "registry": registry]
        if let name { info["tag"] = name.description }
        return info
    }

    /// The `push` object of a `--metadata-file`: `info` and the chunks sent of all.
    public var metadata: PushMetadata {
        PushMetadata(
            downloadURL: downloadURL, taskPackage: taskPackage, descriptorSHA256: descriptorID, registry: registry,
            tag: name?.description, chunksSent: chunksSent, chunksTotal: chunkCount)
    }

    /// gvmkit-build's `--extra-json-info-path` fields, with the hashes named for what they are.
    public var gvmkitInfo: GvmkitPushInfo {
        GvmkitPushInfo(
            imagePath: path, size: size, registry: registry, imageSha3_224: sha3, descriptorSha256: descriptorID,
            downloadUrl: downloadURL, taskPackage: taskPackage,
            repoInfo: name.map { .tagged(.init(url: registry, user: $0.user ?? "", repo: $0.repository, tag: $0.tag)) } ?? .anonymous)
    }
}

/// The `push` object of a `--metadata-file` (docker buildx's flag; snake_case as the rest of the file).
public struct PushMetadata: Encodable, Sendable {
    public var downloadURL: String
    public var taskPackage: String
    public var descriptorSHA256: String
    public var registry: String
    /// The tag, for a tagged push.
    public var tag: String?
    public var chunksSent: Int
    public var chunksTotal: Int

    enum CodingKeys: String, CodingKey {
        case registry, tag
        case downloadURL = "download_url", taskPackage = "task_package", descriptorSHA256 = "descriptor_sha256"
        case chunksSent = "chunks_sent", chunksTotal = "chunks_total"
    }
}

/// gvmkit-build's `--extra-json-info-path` file for a push (its field names).
public struct GvmkitPushInfo: Encodable, Sendable {
    /// Where a tagged push went: the registry, the user, repository and tag.
    public struct Repository: Encodable, Sendable {
        public var url: String
        public var user: String
        public var repo: String
        public var tag: String
    }

    /// `repoInfo`: the repository of a tagged push, null for an anonymous one (as gvmkit-build
    /// writes it, where an absent Optional would leave the key out).
    public enum RepoInfo: Encodable, Sendable {
        case anonymous
        case tagged(Repository)

        public func encode(to encoder: Encoder) throws {
            var c = encoder.singleValueContainer()
            switch self {
            case .anonymous: try c.encodeNil()
            case .tagged(let repository): try c.encode(repository)
            }
        }
    }

    public var imagePath: String
    public var size: UInt64
    public var registry: String
    public var imageSha3_224: String
    public var descriptorSha256: String
    public var downloadUrl: String
    public var taskPackage: String
    public var repoInfo: RepoInfo

    /// The file's bytes: pretty, keys sorted, a final newline (as gvmc always wrote it).
    public func fileBytes() -> [UInt8] { JSONDocument.encode(self, formatting: [.prettyPrinted, .sortedKeys]) + [0x0A] }
}

extension GolemImageName {
    /// The output file `-t` names, as gvmkit-build does: `user-repo-tag-<first 10 hex digits of
    /// imageID>.gvmi` (imageID: hex, or `sha256:` hex).
    public func outputName(imageID: String) -> String {
        "\(ImagePull.Reference.tag(self).defaultOutput.dropLast(".gvmi".count))-\(imageID.split(separator: ":").last?.prefix(10) ?? "").gvmi"
    }
}
