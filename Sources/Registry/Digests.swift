// Digests of the blobs Registry stores and checks: computing them, and checking a digest's form
// before it names a file or a URL.
import SquashFS

func sha256Digest(_ bytes: [UInt8]) -> String { "sha256:" + SHA256.hash(bytes).hexString }

/// Checks a digest's form (as a reference's digest is checked) before it names a file; only
/// sha256 content is stored.
func validateDigest(_ d: String, what: String) throws(RegistryError) {
    do { try ImageReference.validateDigest(d, d) } catch { throw RegistryError("\(what): \(error.reason)") }
    guard d.hasPrefix("sha256:") else { throw RegistryError("\(what): digest \(d): only sha256 is supported") }
}
