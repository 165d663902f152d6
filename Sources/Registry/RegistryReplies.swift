// The JSON bodies of the distribution API that are not image documents: a registry's error
// list, and a token server's reply.

/// `{"errors": [{"code": "...", "message": "...", "detail": ...}]}` (the distribution spec's errors).
struct RegistryErrorReply: Decodable {
    struct Entry: Decodable {
        var code: String?
        var message: String?
    }
    var errors: [Entry]
}

/// A token server's reply: `token` (Docker's) or `access_token` (OAuth2's).
struct TokenReply: Decodable {
    var token: String?
    var accessToken: String?

    enum CodingKeys: String, CodingKey {
        case token
        case accessToken = "access_token"
    }
}
