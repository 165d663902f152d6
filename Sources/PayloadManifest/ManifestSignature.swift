// Signing a manifest the way Golem's documentation does it with openssl, and reading keys and
// certificate chains as providers (yagna's X509 keystore) read them.
import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1
import X509

/// The digest named in `golem.srv.comp.payload.sig.algorithm` (OpenSSL's names, which providers pass
/// to `MessageDigest::from_name`).
public enum SignatureDigest: String, CaseIterable, Sendable {
    case sha256, sha384, sha512

    public init?(openSSLName: String) {
        let n = openSSLName.lowercased().replacingOccurrences(of: "-", with: "")
        self.init(rawValue: n.hasPrefix("rsa") ? String(n.dropFirst(3)) : n)
    }

    func algorithm(for key: Certificate.PublicKey) throws(ManifestError) -> Certificate.SignatureAlgorithm {
        if _RSA.Signing.PublicKey(key) != nil {
            switch self {
            case .sha256: return .sha256WithRSAEncryption
            case .sha384: return .sha384WithRSAEncryption
            case .sha512: return .sha512WithRSAEncryption
            }
        }
        if P256.Signing.PublicKey(key) != nil || P384.Signing.PublicKey(key) != nil || P521.Signing.PublicKey(key) != nil {
            switch self {
            case .sha256: return .ecdsaWithSHA256
            case .sha384: return .ecdsaWithSHA384
            case .sha512: return .ecdsaWithSHA512
            }
        }
        throw .key(
            "\(key) keys cannot sign with a separate digest as providers verify (openssl dgst -\(rawValue)); use an RSA or ECDSA (P-256/384/521) key"
        )
    }
}

/// A signed manifest: the four demand properties' values.
public struct SignedManifest: Equatable, Sendable {
    /// `golem.srv.comp.payload`: base64 of the manifest file's bytes, no line breaks.
    public var payload: String
    /// The raw signature over `payload`'s characters (what `openssl dgst -sign` writes).
    public var signature: [UInt8]
    /// `golem.srv.comp.payload.sig.algorithm`.
    public var digest: SignatureDigest
    /// The certificate file's bytes as given (PEM chain or DER); `golem.srv.comp.payload.cert` is their base64.
    public var certificate: [UInt8]?

    public static let payloadProperty = "golem.srv.comp.payload"
    public static let signatureProperty = "golem.srv.comp.payload.sig"
    public static let algorithmProperty = "golem.srv.comp.payload.sig.algorithm"
    public static let certificateProperty = "golem.srv.comp.payload.cert"

    /// The demand properties in the order the documentation lists them.
    public var properties: [(String, String)] {
        var p = [
            (Self.payloadProperty, payload), (Self.signatureProperty, Data(signature).base64EncodedString()),
            (Self.algorithmProperty, digest.rawValue)
        ]
        if let certificate { p.append((Self.certificateProperty, Data(certificate).base64EncodedString())) }
        return p
    }

    /// `demand.json`: the properties as one JSON object, ready for golem-js's demand options or
    /// yapapi's `vm.manifest(...)` arguments.
    public func demandJSON() -> [UInt8] {
        let body = properties.map { "  \(jsonString($0.0)): \(jsonString($0.1))" }.joined(separator: ",\n")
        return Array("{\n\(body)\n}\n".utf8)
    }

    /// Signs `manifest` (the file's bytes) with the PEM private key; with a certificate (chain), the
    /// key must belong to the certificate providers will use: the last one in the file, as yagna
    /// takes it. The manifest is checked first (as at `now`): an invalid one is not signed.
    public static func sign(
        manifest: [UInt8], keyPEM: String, certificate: [UInt8]?, digest: SignatureDigest,
        now: Date
    ) throws(ManifestError) -> SignedManifest {
        let parsed = try PayloadManifest(json: manifest)
        let problems = parsed.problems(now: now)
        if !problems.isEmpty { throw .invalid(problems) }
        let key = try readPrivateKey(keyPEM)
        if let certificate {
            let chain = try CertificateChain(certificate)
            let signer = chain.signer
            if signer.publicKey != key.publicKey {
                if let i = chain.certificates.firstIndex(where: { $0.publicKey == key.publicKey }) {
                    throw .certificate(
                        "the key belongs to certificate \(i + 1) of \(chain.certificates.count) (\(signer.subject)), but providers verify with the last certificate in the file: put the author's certificate last"
                    )
                }
                throw .certificate("the key does not belong to the certificate (\(signer.subject)); providers would refuse every signature")
            }
            if signer.notValidAfter < now {
                throw .certificate("\(signer.subject) expired at \(ManifestTime.string(signer.notValidAfter))")
            }
            if signer.notValidBefore > now {
                throw .certificate("\(signer.subject) is valid only from \(ManifestTime.string(signer.notValidBefore))")
            }
        }
        let payload = Data(manifest).base64EncodedString()
        let algorithm = try digest.algorithm(for: key.publicKey)
        let signature: Certificate.Signature
        do {
            signature = try key.sign(bytes: Array(payload.utf8), signatureAlgorithm: algorithm)
        } catch {
            throw .key("signing failed: \(error)")
        }
        return SignedManifest(payload: payload, signature: signature.rawRepresentation, digest: digest, certificate: certificate)
    }

    static func readPrivateKey(_ pem: String) throws(ManifestError) -> Certificate.PrivateKey {
        if pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") || pem.contains("Proc-Type: 4,ENCRYPTED") {
            throw .key(
                "the key is protected by a passphrase; write a decrypted copy for signing with `openssl pkey -in KEY -out PLAIN.pem` (keep it private)"
            )
        }
        guard pem.contains("PRIVATE KEY-----") else {
            if pem.contains("-----BEGIN CERTIFICATE-----") {
                throw .key("this is a certificate, not a private key (give the certificate with --cert)")
            }
            throw .key("not a PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8 expected)")
        }
        do {
            return try Certificate.PrivateKey(pemEncoded: pem)
        } catch {
            throw .key("cannot read the PEM private key (PKCS#1 RSA, SEC1 EC or PKCS#8 RSA/ECDSA expected)")
        }
    }
}

/// A certificate file as providers read `golem.srv.comp.payload.cert`: DER (one certificate) or
/// PEM (one or more). The signer is the last certificate (yagna's `verify_cert_chain`).
public struct CertificateChain: Sendable {
    public var certificates: [Certificate]
    public var signer: Certificate { certificates[certificates.count - 1] }

    public init(_ bytes: [UInt8]) throws(ManifestError) {
        if let text = String(bytes: bytes, encoding: .utf8), text.contains("-----BEGIN") {
            do {
                certificates = try PEMDocument.parseMultiple(pemString: text)
                    .filter { $0.discriminator == "CERTIFICATE" }
                    .map { try Certificate(derEncoded: $0.derBytes) }
            } catch {
                throw .certificate("cannot read the PEM certificate: \(error)")
            }
        } else {
            do {
                certificates = [try Certificate(derEncoded: bytes)]
            } catch {
                throw .certificate("neither a PEM nor a DER certificate: \(error)")
            }
        }
        guard !certificates.isEmpty else { throw .certificate("no CERTIFICATE block in the PEM file") }
    }
}

/// A JSON string literal (quotes and escapes as JSONSerialization writes them, `/` kept).
func jsonString(_ s: String) -> String {
    let data = try? JSONSerialization.data(withJSONObject: s, options: [.fragmentsAllowed, .withoutEscapingSlashes])
    return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
}

extension SignedManifest {
    /// Writes what Golem's documentation makes with openssl and base64, plus `demand.json`, into
    /// `directory`: `NAME.base64` (the payload), `NAME.base64.sign.DIGEST` (raw signature) and its
    /// `.base64`, `CERT.base64`. Each file is written to a temporary name and renamed.
    /// Returns the paths written.
    public func write(to directory: String, manifestName: String, certificateName: String?) throws(ManifestError) -> [String] {
        let sig = "\(manifestName).base64.sign.\(digest.rawValue)"
        var files: [(String, [UInt8])] = [
            ("\(manifestName).base64", Array(payload.utf8)),
            (sig, signature),
            (sig + ".base64", Array(Data(signature).base64EncodedString().utf8))
        ]
        if let certificate, let certificateName {
            files.append(("\(certificateName).base64", Array(Data(certificate).base64EncodedString().utf8)))
        }
        files.append(("demand.json", demandJSON()))
        var written: [String] = []
        for (name, bytes) in files {
            let path = directory + "/" + name
            do {
                try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw .file(path: path, "cannot write: \(error.localizedDescription)")
            }
            written.append(path)
        }
        return written
    }
}
