// Manifests as files: the clock they are dated by, writing one atomically, the manifest written
// beside an image that was just built or pushed, and verification for synchronous callers.
import Dispatch
import Foundation

extension PayloadManifest {
    /// The manifest clock: `SOURCE_DATE_EPOCH` when set (reproducible manifests), else now.
    public static func now(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ManifestError) -> Date {
        guard let epoch = environment["SOURCE_DATE_EPOCH"], !epoch.isEmpty else { return Date() }
        guard let t = Int64(epoch) else { throw .request("SOURCE_DATE_EPOCH=\(epoch) is not a Unix time") }
        return Date(timeIntervalSince1970: TimeInterval(t))
    }

    /// Writes the manifest to `path` (a temporary file renamed into place).
    public func write(to path: String) throws(ManifestError) {
        do { try Data(jsonBytes()).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw .file(path: path, "cannot write: \(error.localizedDescription)")
        }
    }

    /// `NAME.manifest.json` beside `NAME.gvmi`.
    public static func path(besideImage image: String) -> String {
        (image.hasSuffix(".gvmi") ? String(image.dropLast(5)) : image) + ".manifest.json"
    }
}

extension ManifestVerifier {
    /// `verify` for callers that are not async (the command line).
    public static func verifyNow(
        _ bundle: ManifestBundle, imageHash: String? = nil, trusted: [UInt8]? = nil,
        now: Date = Date()
    ) -> VerificationReport {
        let box = ReportBox()
        let done = DispatchSemaphore(value: 0)
        Task {
            box.report = await verify(bundle, imageHash: imageHash, trusted: trusted, now: now)
            done.signal()
        }
        done.wait()
        return box.report!
    }
}

private final class ReportBox: @unchecked Sendable { var report: VerificationReport? }
