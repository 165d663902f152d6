// Keys and certificates made with openssl at test time, for the manifest signing tests.
import Foundation

/// Keys and certificates made with openssl: a CA, an author certificate it issued, another CA.
public final class PKI {
    let scratch = Scratch()
    public var dir: String { scratch.path }
    public static let available = Tools.exists("openssl")

    public init() throws {
        try openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
            "-subj", "/CN=Test CA", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        try openssl(
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other-ca.key", "-out", "other-ca.pem", "-days", "30",
            "-subj", "/CN=Other CA", "-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
        try openssl(
            "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "author.key", "-out", "author.csr", "-subj",
            "/O=Golem test/CN=Author")
        try openssl(
            "x509", "-req", "-in", "author.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "author.pem", "-days", "30"
        )
        try openssl("x509", "-pubkey", "-noout", "-in", "author.pem", "-out", "author.pub")
    }

    public func openssl(_ args: String...) throws {
        let r = Tools.run(["sh", "-c", "cd '\(dir)' && openssl \"$@\"", "openssl"] + args)
        guard r.status == 0 else { throw PKIError(message: "openssl \(args.joined(separator: " ")): \(r.output)") }
    }

    public func file(_ name: String) -> [UInt8] { Array(FileManager.default.contents(atPath: dir + "/" + name) ?? Data()) }
    public func text(_ name: String) -> String { String(decoding: file(name), as: UTF8.self) }
    public func put(_ name: String, _ bytes: [UInt8]) { FileManager.default.createFile(atPath: dir + "/" + name, contents: Data(bytes)) }
}

public struct PKIError: Error { public var message: String }
