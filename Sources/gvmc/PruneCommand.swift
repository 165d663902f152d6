// `gvmc prune`: reclaims the cache directory's space (docker builder prune's job).
import BuildCache
import ArgumentParser
import Foundation
import Registry
import Executor
import Sandbox

struct PruneCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prune",
        abstract:
            "Remove build cache: step layers and unpacked base images (with --all also downloaded blobs, images `gvmc run` pulled and RUN cache mounts).",
        discussion: "Waits while gvmc builds use the cache. Least recently used entries go first.")

    @Option(help: "Cache directory (default: $XDG_CACHE_HOME/gvmc or ~/.cache/gvmc).")
    var cacheDir: String?

    @Flag(
        help:
            "Also remove downloaded blobs, the Golem images `gvmc run` pulled (and their interrupted downloads) and RUN --mount=type=cache directories."
    )
    var all = false

    @Option(help: "Keep the most recently used entries up to this size (bytes, or with K/M/G suffix).")
    var keepStorage: String?

    @Option(help: "until=DURATION: remove only entries unused for at least DURATION (e.g. 24h, 90m, 7d).")
    var filter: [String] = []

    @Flag(help: "Print what would be removed, remove nothing.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "Print every entry removed.")
    var verbose = false

    func run() throws {
        var options = PruneOptions()
        options.all = all
        options.dryRun = dryRun
        if let keepStorage {
            guard let bytes = StorageSize.parse(keepStorage) else { throw ValidationError("--keep-storage \(keepStorage): not a size") }
            options.keepBytes = bytes
        }
        for f in filter {
            guard f.hasPrefix("until="), let seconds = CachePrune.parseDuration(String(f.dropFirst("until=".count))) else {
                throw ValidationError("--filter \(f): expected until=DURATION (e.g. until=24h)")
            }
            options.unusedFor = seconds
        }
        // Unprivileged: layers hold files of subordinate ids, removable only as root of the
        // user namespace the builds ran in.
        if geteuid() != 0 && UserNamespace.current == nil {
            if case .exited(let status) = UserNamespace.reexec(arguments: Swift.CommandLine.arguments, log: { printError($0) }) {
                throw ExitCode(status)
            }
        }
        let cache = absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        let removed: [PrunedEntry]
        do {
            removed = try CachePrune.prune(cache, options, waiting: { printError("waiting for the gvmc builds using \(cache) to finish") })
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        let now = Int64(time(nil))
        if verbose || dryRun {
            for e in removed {
                print(
                    "\(dryRun ? "would remove" : "removed") \(e.path)  \(StorageSize.format(e.bytes))  last used \(ago(now - e.lastUsed))")
            }
        }
        let total = removed.reduce(Int64(0)) { $0 + $1.bytes }
        print(
            "\(dryRun ? "Reclaimable" : "Reclaimed"): \(StorageSize.format(total)) in \(removed.count) \(removed.count == 1 ? "entry" : "entries")"
        )
    }

    func ago(_ seconds: Int64) -> String {
        if seconds < 120 { return "\(max(seconds, 0))s ago" }
        if seconds < 7200 { return "\(seconds / 60)m ago" }
        if seconds < 172_800 { return "\(seconds / 3600)h ago" }
        return "\(seconds / 86400)d ago"
    }
}

func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : (FileManager.default.currentDirectoryPath + "/" + path as NSString).standardizingPath
}
