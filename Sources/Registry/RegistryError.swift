// The error of the registry clients and image sources: what kind of failure, with the cause
// kept (the registry's status reply, the transport failure, the errno, the document error);
// the message a user sees is derived from the fields.
import HTTPTransport
import ImageSpec
#if canImport(Glibc)
import Glibc
#endif

/// An error of the registry clients and image sources; `description` is the message a user sees.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// A failure the message says all about (a bad flag, a refused layout, ...).
        case failed(String)
        /// The registry answered `status` for `url` (404 reads "not found"), with its error `reply`
        /// if it sent one; `attempts` when retries were made.
        case status(url: String, status: Int, reply: Reply?, attempts: Int?)
        /// The registry refused the credentials (401) or access (403); `registry` is named in the hint.
        case authFailed(url: String, status: Int, reply: Reply?, registry: String)
        /// The registry (or token server: `subject` names it) could not be reached; `hint` says what
        /// to do about a TLS failure; `attempts` when retries were made.
        case transport(subject: String, cause: TransportError, attempts: Int?, hint: String?)
        /// A chunk of a blob upload was refused with `status` (the upload recovers by asking its state).
        case chunkRefused(digest: String, offset: Int, status: Int)
        /// Bytes whose digest is `actual` where `expected` was wanted; `check` says which bytes.
        case digestMismatch(subject: String, check: DigestCheck, expected: String, actual: String)
        /// A manifest or index that does not decode; `cause` is the document's error.
        case malformed(source: String, size: Int, head: String, cause: ImageSpecError)
        /// An index has no image for `platform`; `available` are the platforms it has.
        case platformNotFound(reference: String, platform: String, available: [String])
        /// A system call on `path` failed; the message is `before` + path + `after` + `: ` + errno's text.
        case system(path: String, errno: Int32, before: String, after: String)
        /// Another error kept as is, with what was being done (`context: cause`, or the cause alone).
        case wrapped(context: String?, cause: any Error & Sendable)
    }

    /// The first entry of a registry's `{"errors":[{"code","message"}]}` reply.
    public struct Reply: Sendable, Equatable {
        public var code: String?
        public var message: String?
        /// As appended to a message: `: CODE message`.
        var suffix: String { ": " + [code, message].compactMap { $0 }.joined(separator: " ") }
    }

    /// Which bytes a digest check was about (each has its own wording).
    public enum DigestCheck: Sendable, Equatable {
        /// A manifest asked for by digest.
        case manifest
        /// A manifest and the registry's `Docker-Content-Digest` (`expected`).
        case contentDigestHeader
        /// A pushed manifest that the registry stored under another digest (`actual`).
        case storedManifest
        /// A downloaded blob.
        case blob
        /// A layer of a `docker save` archive and its diff ID in the image config.
        case archiveLayer(name: String)
        /// A blob of an OCI image layout.
        case layoutBlob
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public init(_ message: String) { self.kind = .failed(message) }
    /// `context: cause`, keeping `cause`.
    public init(_ context: String?, cause: any Error & Sendable) { self.kind = .wrapped(context: context, cause: cause) }

    /// A failed system call on `path`, with the current errno: `before` + path + `after` + `: ` + its text.
    public static func system(_ before: String, _ path: String, _ after: String = "") -> RegistryError {
        RegistryError(.system(path: path, errno: Glibc.errno, before: before, after: after))
    }

    public var message: String {
        switch kind {
        case .failed(let m): return m
        case .status(let url, let status, let reply, let attempts):
            let reply = reply?.suffix ?? ""
            return (status == 404 && attempts == nil ? "\(url): not found\(reply)" : "\(url): HTTP \(status)\(reply)")
                + (attempts.map { " (after \($0) attempts)" } ?? "")
        case .authFailed(let url, let status, let reply, let registry):
            return "\(url): \(status == 401 ? "authentication failed" : "access denied")\(reply?.suffix ?? ""); "
                + "give credentials with --registry-auth \(registry)=USER:PASSWORD, GVMC_REGISTRY_AUTH or ~/.docker/config.json"
        case .transport(let subject, let cause, let attempts, let hint):
            return "\(subject): \(cause.message)" + (hint.map { "; \($0)" } ?? "") + (attempts.map { " (after \($0) attempts)" } ?? "")
        case .chunkRefused(let digest, let offset, let status):
            return "blob \(digest): the registry refused the chunk at \(offset) (HTTP \(status))"
        case .digestMismatch(let subject, let check, let expected, let actual):
            switch check {
            case .manifest: return "\(subject): the registry sent a manifest whose digest is \(actual)"
            case .contentDigestHeader:
                return "\(subject): manifest digest \(actual) does not match the registry's Docker-Content-Digest \(expected)"
            case .storedManifest: return "\(subject): the registry stored the manifest as \(actual), not \(expected)"
            case .blob: return "\(subject): the registry sent bytes whose digest is \(actual); nothing was cached"
            case .archiveLayer(let name): return "\(subject): layer \(name) has digest \(actual), but the image config expects \(expected)"
            case .layoutBlob: return "\(subject): blob \(expected) is corrupt (digest mismatch)"
            }
        case .malformed(let source, let size, let head, let cause):
            let why: String
            if case .notJSON = cause.problem { why = "not JSON" } else { why = cause.reason }
            return "\(source): the registry sent a malformed manifest (\(why); \(size) bytes: \"\(head)\")"
        case .platformNotFound(let reference, let platform, let available):
            return "\(reference): no image for platform \(platform) in the index (it has: "
                + "\(available.isEmpty ? "nothing usable" : available.joined(separator: ", ")))"
        case .system(let path, let e, let before, let after):
            return "\(before)\(path)\(after): \(String(cString: strerror(e)))"
        case .wrapped(let context, let cause): return context.map { "\($0): \(cause)" } ?? "\(cause)"
        }
    }

    public var description: String { message }

    /// A transport error or 5xx/429 that outlasted its retries, or a refused upload chunk (an
    /// upload may recover by asking its status).
    var isTransient: Bool {
        switch kind {
        case .transport(_, _, let attempts, let hint): return attempts != nil && hint == nil
        case .status(_, _, _, let attempts): return attempts != nil
        case .chunkRefused: return true
        default: return false
        }
    }

    /// The HTTP status the registry answered, nil for other failures.
    public var status: Int? {
        switch kind {
        case .status(_, let s, _, _), .authFailed(_, let s, _, _), .chunkRefused(_, _, let s): return s
        default: return nil
        }
    }

    /// The errno of a failed system call, nil for other failures.
    public var errno: Int32? {
        if case .system(_, let e, _, _) = kind { return e }
        return nil
    }

    /// The error underneath: the transport failure, the document error, or the wrapped error.
    public var cause: (any Error & Sendable)? {
        switch kind {
        case .transport(_, let c, _, _): return c
        case .malformed(_, _, _, let c): return c
        case .wrapped(_, let c): return c
        default: return nil
        }
    }
}
