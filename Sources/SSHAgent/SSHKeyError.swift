// Why a key could not be loaded or an agent not be reached or served, with the cause kept.
#if canImport(Glibc)
import Glibc
#endif

/// A key file, agent socket or agent message that failed; `description` is the user's message.
public struct SSHKeyError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// A malformed key or message, an unsupported key type, an agent that refused.
        case failed(String)
        /// A system call failed; `context` names what and where: `the SSH agent at /run/a.sock`.
        case system(context: String, errno: Int32)
        /// The key file is encrypted (`cipher` as the OpenSSH file names it, nil for PEM).
        case passphraseProtected(path: String, cipher: String?)
        /// swift-crypto refused the RSA key's numbers; `cause` is its error.
        case rsaKeyRefused(path: String, cause: any Error)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    init(_ message: String) { self.kind = .failed(message) }

    public var description: String {
        switch kind {
        case .failed(let m): return m
        case .system(let context, let e): return "\(context): \(String(cString: strerror(e)))"
        case .passphraseProtected(let path, let cipher):
            return "\(path): the key is passphrase-protected" + (cipher.map { " (\($0))" } ?? "")
                + "; gvmc cannot ask for the passphrase: ssh-add \(path), then --ssh ID=$SSH_AUTH_SOCK"
        case .rsaKeyRefused(let path, let cause): return "\(path): RSA key refused: \(cause)"
        }
    }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        if case .system(_, let e) = kind { return e }
        return nil
    }

    /// The error underneath, when this one wraps another library's.
    public var cause: (any Error)? {
        if case .rsaKeyRefused(_, let cause) = kind { return cause }
        return nil
    }
}
