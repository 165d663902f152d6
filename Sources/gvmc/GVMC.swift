// The gvmc command line: thin wiring over the pipeline modules.
import ArgumentParser

@main
struct GVMC: ParsableCommand {
    static func main() {
        SignalCleanup.install()
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            exit(withError: error)
        }
    }

    static let configuration = CommandConfiguration(
        commandName: "gvmc",
        abstract: "Compile Dockerfiles into Golem VM images (.gvmi) without a Docker daemon.",
        version: "0.1.0",
        subcommands: [ParseCommand.self, PackCommand.self, InspectCommand.self, DebugCommand.self])
}
