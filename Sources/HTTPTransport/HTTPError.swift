// Failures of the HTTP client and of downloads that have a message for the user, with the
// status or the transport failure kept.

/// A failure with a message for the user (libcurl missing, a download that failed).
public struct HTTPError: Error, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable {
        /// The message says all (libcurl missing, an oversized response, a refused URL, ...).
        case failed(String)
        /// The server answered with a status that ends the request.
        case status(url: String, status: Int)
        /// The transfer failed below HTTP; `attempts` is shown when retries were made (nil when
        /// the failure was not retried).
        case transport(url: String, cause: TransportError, attempts: Int?)
    }

    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public init(_ message: String) { self.kind = .failed(message) }

    public var message: String {
        switch kind {
        case .failed(let m): return m
        case .status(let url, let status): return "\(url): HTTP \(status)"
        case .transport(let url, let cause, let attempts):
            return "\(url): \(cause.message)" + (attempts.map { " (after \($0) attempts)" } ?? "")
        }
    }
    public var description: String { message }

    /// The transport failure underneath, when there is one.
    public var cause: TransportError? {
        if case .transport(_, let cause, _) = kind { return cause }
        return nil
    }
}
