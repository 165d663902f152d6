// The error of the registry clients and image sources, with the message a user needs.

public struct RegistryError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
