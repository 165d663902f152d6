// `gvmc pack`: a root filesystem directory → .gvmi.
import ArgumentParser
import BuildCache
import Foundation
import GVMI
import Registry
import Executor
import SquashFS

struct PackCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack", abstract: "Pack a root filesystem directory into a .gvmi image.")

    @Argument(help: "The root filesystem directory.")
    var rootfs: String

    @Option(name: .shortAndLong, help: "Output file.")
    var output: String

    @OptionGroup var image: ImageOptions
    @OptionGroup var config: ConfigOptions

    @Option(
        help:
            "The cache directory whose block store keeps compressed blocks between writes (default: $XDG_CACHE_HOME/gvmc, else ~/.cache/gvmc)."
    )
    var cacheDir: String?

    func run() throws {
        try image.checkInfoPath()
        let cache = absolutePath(cacheDir ?? BlobCache.defaultDirectory(environment: ProcessInfo.processInfo.environment))
        CacheUse.holdShared(cache)
        let settings = try image.squashFSOptions(cacheDirectory: cache)
        let containerConfig = try config.containerConfig()
        let result = try GVMIImageWriter.write(
            to: output, options: settings, config: containerConfig,
            hashes: ImageHashStore(directory: CacheLayout(cache).hashes)
        ) { writer in
            var reader = DirectoryTreeReader(rootPath: rootfs)
            reader.warn = { printError("warning: \($0)") }
            try reader.add(to: writer)
        }
        try image.completing(result) { try image.writeInfo(result, source: rootfs) }
        printImageResult(result)
    }
}
