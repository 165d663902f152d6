// The JSON bodies of the Golem registry's API (GOLEM.md §2.6): the login request, a descriptor's
// status and an image's info. Replies are decoded strictly: a field of the wrong type is an error
// naming it, fields gvmc does not use are ignored.

/// `POST /auth/pat/login`'s body.
struct LoginRequest: Encodable {
    var username: String
    var password: String
}

/// `GET /v1/image/descr/<id>`: `descriptor` is "ok" for a descriptor the registry has; `status`
/// "full" once every chunk is there; `chunks` 1 for each chunk it has, else 0.
struct DescriptorReply: Decodable {
    var descriptor: String?
    var status: String?
    var chunks: [Int]?
}

/// `GET /v1/image/info`: the image's SHA3-224, its download links, its size.
struct ImageInfoReply: Decodable {
    var sha3: String?
    var http: String?
    var https: String?
    var size: UInt64?
}
