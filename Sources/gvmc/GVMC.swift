// The gvmc command line: thin wiring over the pipeline modules.
import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif

@main
struct GVMC: ParsableCommand {
    static func main() {
        SignalCleanup.install()
        do {
            // `gvmc lint FILE` with plain options skips ArgumentParser (see LintRequest.fastParse);
            // GVMC_NO_FAST_PATH=1 turns that off (the tests compare both paths).
            let args = CommandLine.arguments
            if args.count > 1, args[1] == "lint", getenv("GVMC_NO_FAST_PATH") == nil,
                let request = LintRequest.fastParse(args.dropFirst(2))
            {
                try request.run(puller: { throw ExitCode(2) })
                return
            }
            var command = try parseAsRoot(Array(rewritePushArgument(args).dropFirst()))
            try command.run()
        } catch {
            // Usage errors exit with 2 (as `gvmc lint` documents), not ArgumentParser's 64.
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                printError(fullMessage(for: error))
                Glibc.exit(2)
            }
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "gvmc",
        abstract: "Compile Dockerfiles into Golem VM images (.gvmi) without a Docker daemon.",
        version: "0.1.0",
        subcommands: [
            BuildCommand.self, ConvertCommand.self, RunCommand.self, PushCommand.self, PullCommand.self, LoginCommand.self,
            LogoutCommand.self,
            LintCommand.self, ParseCommand.self, PackCommand.self, InspectCommand.self, PruneCommand.self, ManifestCommand.self,
            DebugCommand.self
        ])
}
