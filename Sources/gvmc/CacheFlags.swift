// `gvmc build --cache-to/--cache-from`: step caches shared through a registry or a directory.
import ArgumentParser
import RemoteCache

struct CacheFlags: ParsableArguments {
    @Option(
        name: .customLong("cache-from"),
        help: ArgumentHelp(
            "Take steps this machine's cache lacks from a shared cache: type=registry,ref=HOST/REPO:TAG (or just HOST/REPO:TAG) or type=local,src=DIR[,tag=TAG] (repeatable; tried in order).",
            valueName: "SPEC"))
    var cacheFrom: [String] = []

    @Option(
        name: .customLong("cache-to"),
        help: ArgumentHelp(
            "Export the build's step layers: type=registry,ref=HOST/REPO:TAG or type=local,dest=DIR[,tag=TAG], with [,mode=min|max][,compression=gzip|zstd][,ignore-error=true] (repeatable).",
            valueName: "SPEC"))
    var cacheTo: [String] = []

    func specs() throws -> (from: [CacheSpec], to: [CacheSpec]) {
        do {
            return (
                try cacheFrom.map { v throws(CacheError) in try CacheSpec(v, export: false) },
                try cacheTo.map { v throws(CacheError) in try CacheSpec(v, export: true) }
            )
        } catch {
            throw ValidationError(error.message)
        }
    }
}
