// `gvmc login` and `gvmc logout`: the Golem registry token, checked and stored by GolemRegistry's
// credential store; this file parses and prints.
import ArgumentParser
import Foundation
import GolemRegistry

struct LoginCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Check a Golem registry token and store it for push (in a file only you can read).")

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    @Option(name: .shortAndLong, help: "The registry user (asked for on a terminal when missing).")
    var username: String?

    @Flag(help: "Read the token (personal access token) from standard input.")
    var passwordStdin = false

    func run() throws {
        let url = Publishing.trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        guard let user = username ?? prompt("Username: "), !user.isEmpty else { throw ValidationError("a --username is needed") }
        let token: String
        if passwordStdin {
            token = (readLine(strippingNewline: true) ?? "").trimmingCharacters(in: .whitespaces)
        } else if isatty(0) != 0, let typed = getpass("Token: ") {
            token = String(cString: typed)
        } else {
            throw ValidationError("standard input is not a terminal: pass the token with --password-stdin")
        }
        guard !token.isEmpty else { throw ValidationError("the token is empty") }
        let credentials = RegistryCredentials(username: user, token: token)
        let store = GolemCredentialStore()
        do throws(GolemRegistryError) {
            try GolemRegistryClient(registry: url).checkLogin(credentials)
            try store.save(credentials, registry: url)
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
        print("logged in to \(url) as \(user); the token is stored in \(store.path) (mode 0600)")
    }

    func prompt(_ text: String) -> String? {
        guard isatty(0) != 0 else { return nil }
        FileHandle.standardError.write(Data(text.utf8))
        return readLine(strippingNewline: true)
    }
}

struct LogoutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logout", abstract: "Remove the stored Golem registry credentials.")

    @Option(help: "The Golem registry (default: $REGISTRY_URL, else https://registry.golem.network).")
    var registry: String?

    func run() throws {
        let url = Publishing.trimmedRegistry(registry ?? PushOptions.defaultRegistry())
        let store = GolemCredentialStore()
        do throws(GolemRegistryError) {
            if try store.remove(registry: url) {
                print("removed the credentials for \(url) from \(store.path)")
            } else {
                print("no credentials for \(url) in \(store.path)")
            }
        } catch {
            printError("error: \(error)")
            throw ExitCode(1)
        }
    }
}
