// A key error says what kind of failure it is and keeps the errno of a failed call.
import Glibc
@testable import SSHAgent
import Testing

@Suite struct SSHKeyErrors {
    @Test func aKeyFileThatCannotBeReadIsASystemFailure() {
        do {
            _ = try SSHPrivateKey.load("/nonexistent/id_ed25519")
            Issue.record("a missing key file loaded")
        } catch let error as SSHKeyError {
            guard case .system(let context, _) = error.kind else { Issue.record("unexpected kind: \(error)"); return }
            #expect(context == "/nonexistent/id_ed25519: cannot read")
            #expect(error.errno != nil)
            #expect(error.description.hasPrefix("/nonexistent/id_ed25519: cannot read: "))
        } catch {
            Issue.record("unexpected error: \(error)")
        }
    }

    @Test func aPassphraseProtectedKeyNamesTheWayOut() {
        let error = SSHKeyError(.passphraseProtected(path: "/k", cipher: "aes256-ctr"))
        #expect(
            error.description
                == "/k: the key is passphrase-protected (aes256-ctr); gvmc cannot ask for the passphrase: ssh-add /k, then --ssh ID=$SSH_AUTH_SOCK"
        )
        #expect(error.errno == nil && error.cause == nil)
    }
}
