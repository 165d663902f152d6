// What can go wrong talking to a Golem registry, each case with what a user needs to act on it.
// No case carries a token: credentials never reach an error message.
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong talking to a Golem registry (never with a token in the message).
public enum GolemRegistryError: Error, Sendable, CustomStringConvertible {
    case invalidDescriptor(String)
    case invalidImageName(String, reason: String)
    case invalidImage(path: String, reason: String)
    /// No answer after every retry (connection refused, reset, timeout, TLS).
    case unreachable(url: String, reason: String, attempts: Int)
    /// An answer the protocol does not expect.
    case unexpectedStatus(url: String, status: Int, message: String)
    /// A JSON reply with a field of the wrong type (the error names the URL and the field).
    case malformedReply(ImageSpecError)
    case loginRejected(user: String, registry: String, message: String)
    case attachRejected(name: String, registry: String, status: Int, message: String)
    case chunkRejected(index: Int, status: Int, message: String)
    case incomplete(registry: String, present: Int, total: Int, seconds: Int)
    case notFound(what: String, registry: String)
    case hashMismatch(url: String, expected: String, actual: String)
    case fileChanged(path: String, detail: String)
    case io(path: String, operation: String, errno: Int32)
    case credentials(String)
    /// A download that failed after `kept` bytes, which stay in `partial` for the next pull.
    indirect case downloadInterrupted(GolemRegistryError, kept: UInt64, partial: String)

    public var description: String {
        switch self {
        case .invalidDescriptor(let why): return "not a Golem image descriptor: \(why)"
        case .invalidImageName(let name, let reason): return "\(name): not a Golem image name (\(reason)); expected USER/REPOSITORY[:TAG]"
        case .invalidImage(let path, let reason): return "\(path): not a valid .gvmi: \(reason)"
        case .unreachable(let url, let reason, let attempts):
            return "\(url): the registry cannot be reached: \(reason)" + (attempts > 1 ? " (after \(attempts) attempts)" : "")
        case .unexpectedStatus(let url, let status, let message):
            return "\(url): HTTP \(status)" + (message.isEmpty ? "" : ": \(message)")
        case .malformedReply(let error): return "\(error.document): the registry's reply is not what its API sends: \(error.reason)"
        case .loginRejected(let user, let registry, let message):
            return "\(registry): the registry refused the token of user \(user)" + (message.isEmpty ? "" : " (\(message))")
                + "; check REGISTRY_USER/REGISTRY_TOKEN or run gvmc login"
        case .attachRejected(let name, let registry, let status, let message):
            return "\(registry): the tag \(name) cannot be set (HTTP \(status)" + (message.isEmpty ? ")" : ": \(message))")
                + (status == 403 ? "; a user can push only to USER/... repositories of their own" : "")
        case .chunkRejected(let index, let status, let message):
            return "the registry rejected chunk \(index) (HTTP \(status)" + (message.isEmpty ? ")" : ": \(message))")
        case .incomplete(let registry, let present, let total, let seconds):
            return "\(registry): the registry did not report the image complete within \(seconds) s (it has \(present) of \(total) chunks)"
        case .notFound(let what, let registry): return "\(registry): no image \(what)"
        case .hashMismatch(let url, let expected, let actual):
            return "\(url): the downloaded file's SHA3-224 is \(actual), not \(expected); it was not kept"
        case .fileChanged(let path, let detail): return "\(path) changed while it was pushed: \(detail)"
        case .io(let path, let operation, let e): return "\(path): \(operation) failed: \(String(cString: strerror(e)))"
        case .credentials(let message): return message
        case .downloadInterrupted(let cause, let kept, let partial):
            return "\(cause); the \(kept) bytes received are kept in \(partial), and the next pull of this image resumes from there"
        }
    }
}
