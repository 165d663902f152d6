// The registry options `gvmc convert` and `gvmc build` share: the blob cache, credentials, plain
// HTTP registries, and pulls reported on the command's progress display.
import ArgumentParser
import Foundation
import ImageSpec
import Progress
import Registry

/// Where images come from and how to reach registries (shared by convert and build).
struct RegistryFlags: ParsableArguments {
    @Option(help: "Blob cache directory (default: $XDG_CACHE_HOME/gvmc or ~/.cache/gvmc).")
    var cacheDir: String?

    @Option(
        name: .customLong("registry-auth"),
        help: "Credentials HOST=USER:PASSWORD (repeatable; also GVMC_REGISTRY_AUTH, ~/.docker/config.json).")
    var registryAuth: [String] = []

    @Option(
        name: .customLong("insecure-registry"),
        help: "Allow plain HTTP and unverified TLS for HOST[:PORT] (repeatable; localhost always is).")
    var insecureRegistries: [String] = []

    /// Absolute: the build's overlay options and the sandbox need absolute paths.
    var cacheDirectory: String { absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment)) }

    /// `progress`: where layer downloads and retries are reported (as the current vertex's
    /// statuses and log lines); without it they go to standard error.
    func puller(platform: String, quiet: Bool = false, progress: BuildProgress? = nil) throws -> ImagePuller {
        ImagePuller(
            options: try options(quiet: quiet, progress: progress), cache: BlobCache(directory: cacheDirectory),
            platform: try Platform(platform))
    }

    /// Credentials (flags, GVMC_REGISTRY_AUTH, docker's config) and TLS choices for registries.
    func options(quiet: Bool = false, progress: BuildProgress? = nil) throws -> RegistryOptions {
        var options = RegistryOptions()
        options.credentials = try CredentialStore.standard(flags: registryAuth, environment: ProcessInfo.processInfo.environment)
        options.insecureRegistries = Set(insecureRegistries)
        if let progress {
            // Retries and warnings as the vertex's log; each download has its own status line.
            options.log = { line in if !line.hasPrefix("pulling ") { progress.log(line) } }
            // BuildKit's status line of a finished layer: `sha256:abcd… 12.3MB / 12.3MB 1.2s done`.
            options.blobProgress = { digest, current, total in progress.transfer(String(digest.prefix(19)), current: current, total: total)
            }
            options.layerPulled = { digest, bytes, seconds in
                let size = BuildProgress.humanSize(bytes)
                progress.status("\(digest.prefix(19)) \(size) / \(size) \(String(format: "%.1f", seconds))s done")
            }
        } else if !quiet {
            options.log = { printError($0) }
        }
        return options
    }
}
