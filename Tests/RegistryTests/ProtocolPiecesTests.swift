// The registry client's protocol helpers on their own: authentication challenges, credentials
// from docker's config, flags and the environment, image sources and platforms.
import Foundation
import ImageSpec
@testable import Registry
import Testing

@Suite struct ProtocolPieces {
    @Test func challengesParseLikeDockerHubs() {
        let c = Challenge(
            #"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull""#)
        #expect(c?.scheme == "bearer")
        #expect(
            c?.parameters == [
                "realm": "https://auth.docker.io/token", "service": "registry.docker.io", "scope": "repository:library/alpine:pull"
            ])
        #expect(Challenge(#"Basic realm="Registry Realm""#)?.parameters["realm"] == "Registry Realm")
        #expect(Challenge(#"Bearer realm="a\"b", service=x"#)?.parameters == ["realm": "a\"b", "service": "x"])
        #expect(Challenge("") == nil)
    }

    @Test func credentialsFromDockerConfigFlagsAndEnvironment() throws {
        let scratch = Scratch()
        let auth = Data("alice:pa:ss".utf8).base64EncodedString()
        FileManager.default.createFile(
            atPath: scratch.sub("config.json"),
            contents: Data(
                """
                {"auths": {"https://index.docker.io/v1/": {"auth": "\(auth)"}, "ghcr.io": {"username": "bob", "password": "pw"},
                           "quay.io": {"identitytoken": "refresh-me"}}}
                """.utf8))
        let store = try CredentialStore.standard(
            flags: ["ghcr.io=carol:flag"], environment: ["DOCKER_CONFIG": scratch.path, "GVMC_REGISTRY_AUTH": "localhost:5000=dan:env"])
        #expect(store.credential(for: "docker.io") == Credential(username: "alice", password: "pa:ss"))
        #expect(store.credential(for: "ghcr.io")?.username == "carol", "a flag beats config.json")
        #expect(store.credential(for: "localhost:5000")?.password == "env")
        #expect(store.credential(for: "quay.io")?.identityToken == "refresh-me")
        #expect(store.credential(for: "example.com") == nil)
        FileManager.default.createFile(
            atPath: scratch.sub("config.json"), contents: Data(#"{"auths": {"x.io": {"auth": "not base64!"}}}"#.utf8))
        #expect(throws: RegistryError.self) { _ = try CredentialStore.standard(flags: [], environment: ["DOCKER_CONFIG": scratch.path]) }
        #expect(throws: RegistryError.self) {
            var s = CredentialStore(); try s.addFlag("no-equals-sign")
        }
    }

    @Test func sourcesAndPlatformsParse() throws {
        guard case .ociLayout(let p, let t) = try ImageSource("oci-layout:///srv/img:v2") else { Issue.record("not a layout"); return }
        #expect(p == "/srv/img" && t == "v2")
        guard case .ociLayout(let p2, nil) = try ImageSource("oci:./dir/x") else { Issue.record("not a layout"); return }
        #expect(p2 == "./dir/x")
        guard case .registry(let r) = try ImageSource("docker://alpine") else { Issue.record("not a registry ref"); return }
        #expect(r.description == "docker.io/library/alpine:latest")
        #expect(try Platform("linux/x86_64") == Platform(architecture: "amd64", os: "linux"))
        #expect(try Platform("linux/arm64/v8").variant == "v8")
        #expect(throws: RegistryError.self) { _ = try Platform("linux") }
        #expect(Platform(architecture: "arm64", os: "linux").matches(try Platform("linux/arm64/v8")))
    }
}
