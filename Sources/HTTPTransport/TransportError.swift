// Transport failures (no HTTP status) and which of them no retry mends.

/// A transport failure (no HTTP status): connection refused, reset, TLS, timeout.
public struct TransportError: Error, Sendable, CustomStringConvertible {
    public var description: String { message }
    /// libcurl's CURLE_* code.
    public var code: Int32
    public var message: String

    /// TLS failures that no retry mends: the peer's certificate is not trusted (certificate
    /// problem, cipher, verification, CA file, issuer, pinning, status), or an HTTPS request was
    /// answered in plain HTTP. Every retry loop stops on these.
    public var isPermanent: Bool {
        switch code {
        case 58, 59, 60, 77, 83, 90, 91: return true
        case 35: return message.contains("wrong version number")
        default: return false
        }
    }

    /// For a permanent failure talking to a registry: what the user can do; nil for the others.
    public func tlsHint(registry: String) -> String? {
        guard isPermanent else { return nil }
        if code == 35 { return "the registry answers plain HTTP, not HTTPS: pass --insecure-registry \(registry) to allow plain HTTP" }
        return "the registry's certificate is not trusted: add its CA to the system's store, or pass "
            + "--insecure-registry \(registry) to skip verification"
    }
}
