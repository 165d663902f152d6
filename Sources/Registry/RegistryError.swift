// The error of the registry clients and image sources, with the message a user needs.

/// An error of the registry clients and image sources, with the message a user needs.
public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// A transport error or 5xx that outlasted its retries (an upload may recover by asking its status).
    var isTransient = false
    public init(_ message: String) { self.message = message }
    init(_ message: String, transient: Bool) { self.message = message; isTransient = transient }
    public var description: String { message }
}
