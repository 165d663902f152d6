// BuildKit's entitlements: what a Dockerfile may ask for only when the person running the build
// allows it (`gvmc build --allow network.host`, as `docker buildx build --allow`). A Dockerfile
// from a stranger (a pull request built on CI) must not reach the host's network on its own.
import DockerfileSyntax

/// A privilege a build must be given with `--allow` before a step may use it.
public enum Entitlement: String, Sendable, CaseIterable {
    /// RUN --network=host: the step shares the host's network namespace.
    case networkHost = "network.host"
    /// RUN --security=insecure: refused without it; with it the step still runs in the sandbox
    /// (gvmc has no privileged mode).
    case securityInsecure = "security.insecure"

    /// A `--allow` value; BuildKit's error for anything else.
    public static func parse(_ value: String) throws(EntitlementError) -> Entitlement {
        guard let e = Entitlement(rawValue: value) else { throw EntitlementError(.unknown(value)) }
        return e
    }
}

/// An `--allow` value that names no entitlement gvmc knows.
public struct EntitlementError: Error, Sendable, CustomStringConvertible {
    /// What failed.
    public enum Kind: Sendable, Equatable {
        /// The value is not `network.host` or `security.insecure`.
        case unknown(String)
    }
    public var kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public var message: String {
        switch kind {
        case .unknown(let value): return "unknown entitlement \(value)"
        }
    }
    public var description: String { message }
}

extension BuildPlan {
    /// Checks, before anything runs, that every step the build will run is allowed (BuildKit
    /// validates the whole graph when the solve starts): a RUN --network=host needs
    /// network.host, a RUN --security=insecure security.insecure. The error has BuildKit's wording and the flag's position in `file`.
    public func checkEntitlements(_ allowed: Set<Entitlement>, file: String) throws(DockerfileError) {
        for stage in stages {
            for step in stage.steps {
                guard case .run(let r) = step.kind else { continue }
                func refuse(_ flag: String, _ message: String) throws(DockerfileError) {
                    let index = step.node.flags.firstIndex { $0.hasPrefix(flag) }
                    let position =
                        index.flatMap { $0 < step.node.flagPositions.count ? step.node.flagPositions[$0] : nil } ?? step.node.position
                    throw DockerfileError(file: file, position: position, endLine: step.node.endLine, message: message)
                }
                if r.network == "host" && !allowed.contains(.networkHost) {
                    try refuse("--network", "network.host is not allowed (RUN --network=host needs gvmc build --allow network.host)")
                }
                // A privileged step in BuildKit; gvmc confines it all the same, but a Dockerfile
                // asking for it must still be allowed by the person building it.
                if step.node.flags.contains("--security=insecure") && !allowed.contains(.securityInsecure) {
                    try refuse(
                        "--security",
                        "security.insecure is not allowed (RUN --security=insecure needs gvmc build --allow security.insecure)")
                }
            }
        }
    }
}
