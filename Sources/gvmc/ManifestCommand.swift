// `gvmc manifest create | sign | verify`: Computation Payload Manifests for tasks that need the
// internet. The work is in the PayloadManifest module; this file reads options and files.
import ArgumentParser
import Foundation
import GolemRegistry
import GVMI
import PayloadManifest

struct ManifestCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest",
        abstract: "Create, sign and verify Computation Payload Manifests (outbound internet for Golem tasks).",
        subcommands: [ManifestCreate.self, ManifestSign.self, ManifestVerify.self])
}

/// Reports a library error the way every gvmc command does (`error: ...`, exit 1).
func failing<T>(_ what: String? = nil, _ body: () throws -> T) throws -> T {
    do { return try body() } catch let error as ManifestError {
        let text = "\(error)".split(separator: "\n").map { "error: " + (what.map { "\($0): " } ?? "") + $0 }.joined(separator: "\n")
        printError(text)
        throw ExitCode(1)
    }
}

struct ManifestCreate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Write a manifest naming an image by its hash and the internet access its tasks need.",
        discussion: """
            Defaults as the SDK helpers: protocols http, https, ws, wss; createdAt now (SOURCE_DATE_EPOCH \
            when set); expiry 90 days later (golem-sdk-cli's); platform x86_64/linux. With outbound access \
            and no --command, the script allows `run .*` and `transfer .*` (regex).
            """)

    @Argument(help: "The .gvmi image (its SHA3-224 becomes the payload hash).")
    var image: String?

    @Option(help: "The image's SHA3-224 instead of an image file (56 hex digits, `sha3:` prefix optional).")
    var hash: String?

    @Option(help: "USER/REPO:TAG: the image the Golem registry has under that tag (its hash and download URL).")
    var tag: String?

    @Option(
        help:
            "The Golem registry asked for --tag, or for the download URL when --url is not given (default: $REGISTRY_URL, else https://registry.golem.network)."
    )
    var registry: String?

    @Option(name: .customLong("url"), help: "Where providers download the image (repeatable; they take the first).")
    var urls: [String] = []

    @Option(name: .customLong("outbound"), help: "A URL the task may reach (repeatable).")
    var outbound: [String] = []

    @Flag(help: "Any host (`unrestricted.urls: true`; excludes --outbound).")
    var outboundAny = false

    @Option(name: .customLong("protocol"), help: "Allowed outbound protocol (repeatable; default http, https, ws, wss).")
    var protocols: [String] = []

    @Option(name: .customLong("command"), help: "An allowed ExeScript command pattern (repeatable), e.g. 'run .*'.")
    var commands: [String] = []

    @Option(help: "How --command patterns match: strict or regex.")
    var match: String?

    @Option(help: "Expiry: a duration (90d, 12h, 1w, 1y) or an RFC 3339 time.")
    var expires: String?

    @Option(help: "metadata.name") var name: String?
    @Option(help: "metadata.description") var description: String?
    @Option(help: "metadata.version (semver)") var version: String?
    @Option(name: .customLong("author"), help: "metadata.authors (repeatable)") var authors: [String] = []
    @Option(help: "metadata.homepage") var homepage: String?

    @Option(name: .shortAndLong, help: "Write the manifest here (default: standard output).")
    var output: String?

    func run() throws {
        guard [image != nil, hash != nil, tag != nil].filter({ $0 }).count == 1 else {
            throw ValidationError("give one of IMAGE.gvmi, --hash (the image's SHA3-224) or --tag USER/REPO:TAG")
        }
        var imageHash = hash.map { $0.lowercased().hasPrefix("sha3:") ? String($0.dropFirst(5)) : $0 } ?? ""
        if let image {
            do { imageHash = try GVMIInspector.inspect(path: image).sha3_224 } catch {
                printError("error: \(image): \(error)")
                throw ExitCode(1)
            }
        }
        var downloadURLs = urls
        if tag != nil || urls.isEmpty {
            // The registry knows the image: by tag (hash and URL), or by hash (its URL).
            do {
                var retry = RetryPolicy()
                retry.attempts = 2
                let reference: ImagePull.Reference = try tag.map { .tag(try GolemImageName($0)) } ?? .hash(imageHash)
                let info = try ImagePull.resolve(reference, registry: registry ?? PushOptions.defaultRegistry(), retry: retry, count: false)
                if tag != nil { imageHash = info.sha3 }
                if urls.isEmpty { downloadURLs = [info.url] }
            } catch {
                printError("error: \(error)" + (tag == nil ? " (give --url, or push the image first: gvmc push)" : ""))
                throw ExitCode(1)
            }
        }
        let now = try failing { try PayloadManifest.now() }
        var request = ManifestRequest(imageHash: imageHash, createdAt: now)
        request.urls = downloadURLs
        request.outbound = outbound
        request.outboundAny = outboundAny
        request.protocols = protocols.isEmpty ? nil : protocols
        request.commands = commands.isEmpty ? nil : commands
        if let match {
            guard let m = PayloadManifest.Script.Match(rawValue: match) else { throw ValidationError("--match \(match): strict or regex") }
            request.match = m
        }
        request.name = name
        request.description = description
        request.version = version
        request.authors = authors
        request.homepage = homepage
        let manifest = try failing {
            if let expires { request.expiresAt = try ManifestRequest.expiry(expires, after: now) }
            return try request.manifest()
        }
        if let output {
            try failing { try manifest.write(to: output) }
            printError("wrote \(output) (payload sha3:\(imageHash.lowercased()), expires \(ManifestTime.string(manifest.expiresAt)))")
        } else {
            FileHandle.standardOutput.write(Data(manifest.jsonBytes()))
        }
    }
}

struct ManifestSign: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Sign a manifest as providers verify it and write the four demand properties.",
        discussion: """
            Writes into DIR: MANIFEST.base64 (the golem.srv.comp.payload value), MANIFEST.base64.sign.DIGEST \
            (the raw signature, as `openssl dgst -sign` writes it) and its .base64, CERT.base64, and \
            demand.json with the four properties for golem-js or yapapi's vm.manifest(...).
            """)

    @Argument(help: "The manifest JSON file (`-` for standard input).")
    var manifest: String

    @Option(help: "The author's private key (PEM: PKCS#1 or PKCS#8 RSA, SEC1 or PKCS#8 ECDSA).")
    var key: String

    @Option(help: "The author's certificate, or a chain ending with it (PEM or DER).")
    var cert: String?

    @Option(help: "The digest: sha256, sha384 or sha512.")
    var digest: String = "sha256"

    @Option(name: .shortAndLong, help: "The output directory (default: the manifest's directory).")
    var output: String?

    func run() throws {
        guard let d = SignatureDigest(openSSLName: digest) else { throw ValidationError("--digest \(digest): sha256, sha384 or sha512") }
        let bytes: [UInt8]
        if manifest == "-" {
            bytes = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            bytes = try readInput(manifest)
        }
        let keyData = try readInput(key, option: "--key")
        let certificate = try cert.map { try readInput($0, option: "--cert") }
        let now = try failing { try PayloadManifest.now() }
        let signed = try failing(manifest == "-" ? "manifest" : manifest) {
            try SignedManifest.sign(
                manifest: bytes, keyPEM: String(decoding: keyData, as: UTF8.self), certificate: certificate,
                digest: d, now: now)
        }
        let base = manifest == "-" ? "manifest.json" : (manifest as NSString).lastPathComponent
        let directory =
            output
            ?? (manifest == "-"
                ? "." : ((manifest as NSString).deletingLastPathComponent.isEmpty ? "." : (manifest as NSString).deletingLastPathComponent))
        let written = try failing {
            try signed.write(to: directory, manifestName: base, certificateName: cert.map { ($0 as NSString).lastPathComponent })
        }
        for path in written { print(path) }
        if cert == nil {
            printError(
                "warning: no --cert: providers cannot verify the signature without the author's certificate (golem.srv.comp.payload.cert)")
        }
    }
}

struct ManifestVerify: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a manifest as a provider would: format, dates, image hash, signature, certificate chain.")

    @Argument(help: "manifest.json, a demand.json written by `gvmc manifest sign`, or the directory holding it.")
    var input: String

    @Option(help: "The .gvmi the manifest must name.")
    var image: String?

    @Option(help: "CA certificate(s) (PEM or DER) the author's certificate must chain to, as in a provider's keystore.")
    var ca: String?

    @Option(help: "A signature file (raw or base64) for a manifest signed with openssl as Golem's documentation shows.")
    var signature: String?

    @Option(help: "The author's certificate (PEM, DER, or their base64) to go with --signature.")
    var cert: String?

    @Option(help: "The signature's digest with --signature (default sha256).")
    var digest: String?

    func run() throws {
        let bundle = try failing { try ManifestBundle.load(path: input, signature: signature, certificate: cert, digest: digest) }
        var imageHash: String? = nil
        if let image {
            do { imageHash = try GVMIInspector.inspect(path: image).sha3_224 } catch {
                printError("error: \(image): \(error)")
                throw ExitCode(1)
            }
        }
        let trusted = try ca.map { try readInput($0, option: "--ca") }
        let now = try failing { try PayloadManifest.now() }
        let report = ManifestVerifier.verifyNow(bundle, imageHash: imageHash, trusted: trusted, now: now)
        for line in report.passed { print("ok: \(line)") }
        for note in report.notes { print("note: \(note)") }
        for problem in report.problems { printError("error: \(input): \(problem)") }
        if !report.problems.isEmpty { throw ExitCode(1) }
        print("\(input): verified")
    }
}

/// A file named on the command line, or `error: [--option ]PATH: why` and exit 1.
func readInput(_ path: String, option: String? = nil) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        printError("error: \(option.map { $0 + " " } ?? "")\(path): cannot read (\(String(cString: strerror(errno))))")
        throw ExitCode(1)
    }
    return Array(data)
}

/// `--manifest-outbound` on the commands that make or publish an image: a manifest for that image
/// (its hash, its download URL, the outbound URLs), written beside it as NAME.manifest.json.
struct ManifestOutputOptions: ParsableArguments {
    @Option(
        name: .customLong("manifest-outbound"),
        help: "Also write NAME.manifest.json beside the image, allowing this outbound URL (repeatable).")
    var outbound: [String] = []

    @Flag(name: .customLong("manifest-outbound-any"), help: "Also write NAME.manifest.json allowing any outbound host.")
    var outboundAny = false

    @Option(name: .customLong("manifest-url"), help: "The image's download URL for that manifest (repeatable; a push adds its own).")
    var urls: [String] = []

    var wanted: Bool { !outbound.isEmpty || outboundAny }

    /// Before any work: a manifest needs a download URL, from --manifest-url or from a push.
    func check(downloadURLComing: Bool) throws {
        guard wanted else {
            if !urls.isEmpty {
                throw ValidationError("--manifest-url without --manifest-outbound or --manifest-outbound-any: no manifest is written")
            }
            return
        }
        if urls.isEmpty && !downloadURLComing {
            throw ValidationError("--manifest-outbound needs the image's download URL: add --manifest-url URL (or push the image)")
        }
        if outboundAny && !outbound.isEmpty {
            throw ValidationError("--manifest-outbound and --manifest-outbound-any exclude each other")
        }
    }

    /// Writes the manifest for `image` (path of the .gvmi) and prints where; nothing when not asked.
    @discardableResult
    func write(image: String, sha3_224: String, downloadURL: String? = nil) throws -> String? {
        guard wanted else { return nil }
        var request = ManifestRequest(imageHash: sha3_224, createdAt: try failing { try PayloadManifest.now() })
        request.urls = urls + (downloadURL.map { [$0] } ?? [])
        request.outbound = outbound
        request.outboundAny = outboundAny
        let path = PayloadManifest.path(besideImage: image)
        try failing("manifest") { try request.manifest().write(to: path) }
        printError("manifest: \(path) (sign it with `gvmc manifest sign \(path) --key KEY --cert CERT`)")
        return path
    }
}
