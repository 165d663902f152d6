// Errors reading an OCI or Docker JSON document: which document, which field (a JSON path such as
// `config.Env[2]`), and what was wrong, so a mistyped field is never silently dropped.
import Foundation

/// A JSON document that could not be read as the type it should be.
public struct ImageSpecError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong at `field`.
    public enum Problem: Sendable, Equatable {
        /// The bytes are not JSON at all (the parser's reason).
        case notJSON(String)
        /// The field holds another kind of value than the format defines (`expected`: "a string",
        /// "a list", ...; `found`: what the document has there, when the decoder says).
        case wrongType(expected: String, found: String?)
        /// A field the format requires is absent.
        case missing
        /// A value of the right type that the format does not allow.
        case invalid(String)
    }

    /// What was read: a file path, `config sha256:...`, `docker-archive://x.tar manifest.json`.
    public var document: String
    /// The JSON path of the problem (`config.Volumes./data`, `layers[1].size`); empty for the
    /// document as a whole.
    public var field: String
    public var problem: Problem

    public init(document: String, field: String = "", _ problem: Problem) {
        self.document = document
        self.field = field
        self.problem = problem
    }

    /// The problem without the document's name (`config.Env: expected a list, found a string`).
    public var reason: String {
        let at = field.isEmpty ? "" : field + ": "
        switch problem {
        case .notJSON(let why): return "not JSON" + (why.isEmpty ? "" : " (\(why))")
        case .wrongType(let expected, let found): return at + "expected \(expected)" + (found.map { ", found \($0)" } ?? "")
        case .missing: return at + "missing (required)"
        case .invalid(let why): return at + why
        }
    }

    public var description: String { "\(document): \(reason)" }
}

extension ImageSpecError {
    /// A Foundation decoding error as the field and problem it names.
    public init(document: String, decoding error: Error) {
        guard let error = error as? DecodingError else {
            self.init(document: document, .notJSON("\(error)"))
            return
        }
        switch error {
        case .typeMismatch(let type, let context):
            self.init(
                document: document, field: Self.path(context.codingPath),
                .wrongType(expected: Self.kind(type), found: Self.found(context.debugDescription)))
        case .valueNotFound(let type, let context):
            self.init(document: document, field: Self.path(context.codingPath), .wrongType(expected: Self.kind(type), found: "null"))
        case .keyNotFound(let key, let context):
            self.init(document: document, field: Self.path(context.codingPath + [key]), .missing)
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let why = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
                self.init(document: document, .notJSON(why ?? ""))
            } else {
                self.init(document: document, field: Self.path(context.codingPath), .invalid(context.debugDescription))
            }
        @unknown default:
            self.init(document: document, .invalid("\(error)"))
        }
    }

    /// `a.b[2].c`: array positions in brackets, object keys after dots.
    static func path(_ keys: [CodingKey]) -> String {
        var out = ""
        for key in keys {
            if let i = key.intValue, key.stringValue == "Index \(i)" {
                out += "[\(i)]"
            } else {
                out += (out.isEmpty ? "" : ".") + key.stringValue
            }
        }
        return out
    }

    /// The JSON kind a Swift type is decoded from.
    static func kind(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Int32.Type, is UInt32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default: return String(describing: type).hasPrefix("Array") ? "a list" : "an object"
        }
    }

    /// "a number" out of Foundation's "Expected to decode String but found a number instead."
    static func found(_ debugDescription: String) -> String? {
        guard let start = debugDescription.range(of: "but found "),
            let end = debugDescription.range(of: " instead", range: start.upperBound..<debugDescription.endIndex)
        else { return nil }
        var what = Substring(debugDescription[start.upperBound..<end.lowerBound])
        for article in ["a ", "an "] where what.hasPrefix(article) { what = what.dropFirst(article.count) }
        switch what {
        case "array": return "a list"
        case "dictionary", "object": return "an object"
        case "bool", "boolean": return "true or false"
        case "null": return "null"
        default: return "a " + what
        }
    }
}
