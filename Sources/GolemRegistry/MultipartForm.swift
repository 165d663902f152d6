// multipart/form-data bodies as the registry takes them (reqwest's, in gvmkit-build): text
// fields, then the bytes in a part named `file`.

struct MultipartForm {
    let boundary = "gvmc-" + (0..<4).map { _ in String(UInt32.random(in: 0...UInt32.max), radix: 16) }.joined()
    var fields: [(name: String, value: String)] = []

    var contentType: String { "Content-Type: multipart/form-data; boundary=\(boundary)" }

    /// Everything before the file's bytes: the text fields and the file part's headers.
    var head: [UInt8] {
        var text = ""
        for (name, value) in fields {
            text += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        return Array(text.utf8)
    }

    func fileHead(filename: String) -> [UInt8] {
        Array(
            ("--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"\(filename)\"\r\n"
                + "Content-Type: application/octet-stream\r\n\r\n").utf8)
    }

    var tail: [UInt8] { Array("\r\n--\(boundary)--\r\n".utf8) }

    /// The text fields alone.
    var body: [UInt8] { head + Array("--\(boundary)--\r\n".utf8) }

    /// The text fields and `file`.
    func body(file: [UInt8], filename: String) -> [UInt8] { head + fileHead(filename: filename) + file + tail }
}
