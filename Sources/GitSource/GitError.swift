// Why a git source could not be fetched or checked out, with the cause kept: the errno of a
// failed call, the transport failure, the submodule's own error.
import HTTPTransport
#if canImport(Glibc)
import Glibc
#endif

/// A git fetch or checkout that failed; `description` is the message the user sees.
public struct GitError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// The repository, the server's answer or the pack is refused; the message says why.
        case failed(String)
        /// A system call failed: `mkdir /x/y: Permission denied` (`operation` may be empty when
        /// `path` says it all: `the packfile: ...`).
        case system(operation: String, path: String, errno: Int32)
        /// The server could not be reached (after `attempts` tries); `url` without credentials.
        case transport(url: String, cause: TransportError, attempts: Int)
        /// A submodule's checkout failed; `cause` is its own error.
        case submodule(path: String, url: String, commit: String, cause: any Error)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    init(_ message: String) { self.kind = .failed(message) }

    public var description: String {
        switch kind {
        case .failed(let m): return m
        case .system(let op, let path, let e):
            return (op.isEmpty ? path : "\(op) \(path)") + ": " + String(cString: strerror(e))
        case .transport(let url, let cause, let attempts):
            return "\(url): \(cause.message)" + (attempts > 1 ? " (after \(attempts) attempts)" : "")
        case .submodule(let path, let url, let commit, let cause):
            return "submodule \(path) (\(url) at \(commit)): \(cause)"
        }
    }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        if case .system(_, _, let e) = kind { return e }
        return nil
    }

    /// The error underneath: the transport failure or the submodule's error.
    public var cause: (any Error)? {
        switch kind {
        case .transport(_, let cause, _): return cause
        case .submodule(_, _, _, let cause): return cause
        case .failed, .system: return nil
        }
    }
}
