// `gvmc manifest verify`: everything a provider checks before it accepts a demand with a manifest
// (the JSON, the dates, the image hash, the signature over the base64 text, the certificate chain
// against its keystore), each problem named.
import Crypto
import _CryptoExtras
import Foundation
import Synchronization
import SwiftASN1
// The SPI is swift-certificates' non-deprecated way to check expiry at a given time (the manifest
// clock: SOURCE_DATE_EPOCH when set) instead of the moment the chain is validated.
@_spi(FixedExpiryValidationTime) import X509

/// What `verify` reads: a manifest and, when signed, the signature, its digest and the certificate.
public struct ManifestBundle: Sendable {
    /// The manifest file's bytes.
    public var manifest: [UInt8]
    /// The base64 text providers receive as `golem.srv.comp.payload` and verify the signature over.
    public var payload: String
    public var signature: [UInt8]?
    public var algorithm: String?
    public var certificate: [UInt8]?

    public init(manifest: [UInt8], payload: String? = nil, signature: [UInt8]? = nil, algorithm: String? = nil, certificate: [UInt8]? = nil)
    {
        self.manifest = manifest
        self.payload = payload ?? Data(manifest).base64EncodedString()
        self.signature = signature
        self.algorithm = algorithm
        self.certificate = certificate
    }

    /// Reads a manifest.json, a `demand.json` (the four properties), a directory holding a
    /// demand.json, or the base64 text of a manifest. `signature` and `certificate` name files in
    /// the forms Golem's documentation makes with openssl (raw or base64 signature; PEM, DER or their
    /// base64 for the certificate).
    public static func load(
        path: String, signature: String? = nil, certificate: String? = nil,
        digest: String? = nil
    ) throws(ManifestError) -> ManifestBundle {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .file(path: path, "no such file or directory")
        }
        var file = path
        if isDirectory.boolValue {
            file = path + "/demand.json"
            guard FileManager.default.fileExists(atPath: file) else {
                throw .file(path: path, "no demand.json here (`gvmc manifest sign -o DIR` writes one); name the manifest file instead")
            }
        }
        let bytes = try readFile(file)
        var bundle: ManifestBundle
        if DemandFile.isDemand(bytes) {
            bundle = try DemandFile.read(bytes, file: file).bundle(file: file)
        } else if let text = String(bytes: bytes, encoding: .utf8)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !text.hasPrefix("{"), let decoded = Data(base64Encoded: text, options: .ignoreUnknownCharacters)
        {
            // manifest.json.base64: the payload exactly as it would be sent (line breaks dropped).
            bundle = ManifestBundle(manifest: Array(decoded), payload: text.filter { !$0.isWhitespace })
        } else {
            bundle = ManifestBundle(manifest: bytes)
        }
        if let signature {
            let raw = try readFile(signature)
            bundle.signature = decodeBase64File(raw) ?? raw
            bundle.algorithm = digest ?? bundle.algorithm ?? SignatureDigest.sha256.rawValue
        } else if let digest {
            bundle.algorithm = digest
        }
        if let certificate {
            let raw = try readFile(certificate)
            bundle.certificate =
                (String(bytes: raw, encoding: .utf8)?.contains("-----BEGIN") == true) ? raw : (decodeBase64File(raw) ?? raw)
        }
        return bundle
    }

    /// A file that holds base64 text only (the `--wrap=0` output of Golem's documentation).
    private static func decodeBase64File(_ raw: [UInt8]) -> [UInt8]? {
        guard let text = String(bytes: raw, encoding: .ascii)?.trimmingCharacters(in: .whitespacesAndNewlines),
            !text.isEmpty, text.allSatisfy({ $0.isLetter || $0.isNumber || "+/=\n\r".contains($0) }),
            let data = Data(base64Encoded: text, options: .ignoreUnknownCharacters)
        else { return nil }
        return Array(data)
    }
}

func readFile(_ path: String) throws(ManifestError) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw .file(path: path, String(cString: strerror(errno)))
    }
    return Array(data)
}

/// What verifying a manifest found: its problems, the checks passed, and checks not made.
public struct VerificationReport: Sendable {
    public var manifest: PayloadManifest?
    /// What providers would refuse; empty: the manifest passes every check that was made.
    public var problems: [ManifestProblem] = []
    /// The checks that passed, for the summary.
    public var passed: [String] = []
    /// Checks that could not be made, and why.
    public var notes: [String] = []
}

/// Verifies a signed manifest bundle as a provider would before accepting a demand.
public enum ManifestVerifier {
    /// Checks a bundle as at `now`. `imageHash`: the SHA3-224 (hex) of the image the manifest must
    /// name; `trusted`: CA certificates (PEM or DER bytes) the signer's chain must lead to.
    public static func verify(
        _ bundle: ManifestBundle, imageHash: String? = nil, trusted: [UInt8]? = nil,
        now: Date = Date()
    ) async -> VerificationReport {
        var report = VerificationReport()
        do {
            let manifest = try PayloadManifest(json: bundle.manifest)
            report.manifest = manifest
            let problems = manifest.problems(now: now, imageHash: imageHash)
            report.problems += problems
            if problems.isEmpty {
                report.passed.append("manifest: format \(manifest.version), valid until \(ManifestTime.string(manifest.expiresAt))")
                if let imageHash { report.passed.append("payload: names the image (sha3:\(imageHash.lowercased()))") }
            }
            if imageHash == nil { report.notes.append("payload hash not compared with an image (give --image IMAGE.gvmi)") }
        } catch {
            report.problems.append(ManifestProblem("manifest", "\(error)".replacingOccurrences(of: "manifest: ", with: "")))
        }
        guard let signature = bundle.signature else {
            if bundle.certificate != nil { report.problems.append(ManifestProblem("signature", "a certificate but no signature")) }
            report.notes.append("unsigned: only providers that whitelist every outbound host accept it")
            return report
        }
        guard let certificate = bundle.certificate else {
            report.problems.append(
                ManifestProblem("certificate", "missing: providers cannot verify a signature without \(SignedManifest.certificateProperty)")
            )
            return report
        }
        let chain: CertificateChain
        do { chain = try CertificateChain(certificate) } catch {
            report.problems.append(ManifestProblem("certificate", "\(error)".replacingOccurrences(of: "certificate: ", with: "")))
            return report
        }
        let signer = chain.signer
        if signer.notValidAfter < now {
            report.problems.append(
                ManifestProblem("certificate", "\(signer.subject) expired at \(ManifestTime.string(signer.notValidAfter))"))
        } else if signer.notValidBefore > now {
            report.problems.append(
                ManifestProblem("certificate", "\(signer.subject) is valid only from \(ManifestTime.string(signer.notValidBefore))"))
        }
        let name = bundle.algorithm ?? ""
        guard let digest = SignatureDigest(openSSLName: name) else {
            report.problems.append(
                ManifestProblem(
                    "signature", "algorithm \"\(name)\": gvmc checks sha256, sha384 and sha512 (\(SignedManifest.algorithmProperty))"))
            return report
        }
        do {
            let algorithm = try digest.algorithm(for: signer.publicKey)
            if signer.publicKey.isValidSignature(signature, for: Array(bundle.payload.utf8), signatureAlgorithm: algorithm) {
                report.passed.append("signature: \(digest.rawValue) over the base64 payload, by \(signer.subject)")
            } else {
                report.problems.append(ManifestProblem("signature", mismatch(bundle, signature, signer, algorithm)))
            }
        } catch {
            report.problems.append(ManifestProblem("signature", "\(error)"))
        }
        guard let trusted else {
            report.notes.append(
                "certificate chain not checked (give --ca CA.pem: providers accept only authors whose chain ends at a certificate in their keystore)"
            )
            return report
        }
        let roots: [Certificate]
        do { roots = try CertificateChain(trusted).certificates } catch {
            report.problems.append(ManifestProblem("--ca", "\(error)".replacingOccurrences(of: "certificate: ", with: "")))
            return report
        }
        var verifier = Verifier(rootCertificates: CertificateStore(roots)) { RFC5280Policy(fixedExpiryValidationTime: now) }
        let diagnostics = DiagnosticLog()
        let result = await verifier.validate(
            leaf: signer, intermediates: CertificateStore(Array(chain.certificates.dropLast())),
            diagnosticCallback: { diagnostics.add("\($0)") })
        switch result {
        case .validCertificate(let validated):
            report.passed.append(
                "certificate: chains to \(validated.last?.subject.description ?? "the CA") (a chain of \(validated.count))")
        case .couldNotValidate(let failures):
            let reasons = failures.map { "\($0.policyFailureReason)" }
            let detail =
                reasons.isEmpty
                ? "no chain from \(signer.subject) (issuer \(signer.issuer)) to a certificate in --ca" : reasons.joined(separator: "; ")
            report.problems.append(ManifestProblem("certificate", "not issued by the --ca certificates: \(detail)"))
        }
        return report
    }

    /// Why a signature does not verify, when the cause is a common one: it was made over the
    /// base64 text with line breaks or a final newline (`base64 manifest.json > manifest.json.base64`).
    private static func mismatch(
        _ bundle: ManifestBundle, _ signature: [UInt8], _ signer: Certificate,
        _ algorithm: Certificate.SignatureAlgorithm
    ) -> String {
        let payload = bundle.payload
        var wrapped = ""
        var i = payload.startIndex
        while i < payload.endIndex {
            let end = payload.index(i, offsetBy: 76, limitedBy: payload.endIndex) ?? payload.endIndex
            wrapped += payload[i..<end] + "\n"
            i = end
        }
        for (variant, what) in [
            (payload + "\n", "the base64 text followed by a newline"),
            (wrapped, "the base64 text wrapped at 76 columns (`base64` without --wrap=0)")
        ] {
            if signer.publicKey.isValidSignature(signature, for: Array(variant.utf8), signatureAlgorithm: algorithm) {
                return
                    "the signature is over \(what); providers verify it over \(SignedManifest.payloadProperty), the base64 text without line breaks: sign the output of `base64 --wrap=0 manifest.json` (no newline), or use `gvmc manifest sign`"
            }
        }
        return
            "does not verify over the base64 payload with \(signer.subject)'s key: the manifest was changed after signing, or it was signed with another key"
    }
}

/// Collects the verifier's diagnostics (called from its task).
final class DiagnosticLog: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}
