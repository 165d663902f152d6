// Image references normalised as `docker pull` does.
import Registry
import Testing

@Suite struct ImageReferences {
    @Test(arguments: [
        ("alpine", "docker.io/library/alpine:latest", "alpine:latest"),
        ("alpine:3.19", "docker.io/library/alpine:3.19", "alpine:3.19"),
        ("user/app", "docker.io/user/app:latest", "user/app:latest"),
        ("docker.io/library/busybox:1.36", "docker.io/library/busybox:1.36", "busybox:1.36"),
        ("index.docker.io/library/busybox", "docker.io/library/busybox:latest", "busybox:latest"),
        ("ghcr.io/org/team/tool:v1.2.3", "ghcr.io/org/team/tool:v1.2.3", "ghcr.io/org/team/tool:v1.2.3"),
        ("localhost/app", "localhost/app:latest", "localhost/app:latest"),
        ("localhost:5000/a/b:tag", "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
        ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest", "127.0.0.1:5000/x:latest"),
        (
            "my-registry.example.com:443/a__b/c-d.e", "my-registry.example.com:443/a__b/c-d.e:latest",
            "my-registry.example.com:443/a__b/c-d.e:latest"
        )
    ])
    func normalisesLikeDocker(_ input: String, _ full: String, _ familiar: String) throws {
        let r = try ImageReference(input)
        #expect(r.description == full)
        #expect(r.familiarName == familiar)
    }

    @Test func digestsAndTagsTogether() throws {
        let d = "sha256:" + String(repeating: "a", count: 64)
        let pinned = try ImageReference("alpine@" + d)
        #expect(pinned.tag == nil && pinned.digest == d && pinned.manifestReference == d)
        let both = try ImageReference("alpine:3.19@" + d)
        #expect(both.tag == "3.19" && both.manifestReference == d)
        #expect(both.description == "docker.io/library/alpine:3.19@" + d)
    }

    @Test func localhostAllowsPlainHTTP() throws {
        #expect(try ImageReference("localhost:5000/a").isLocalhost)
        #expect(try ImageReference("127.0.0.1:5000/a").isLocalhost)
        #expect(!(try ImageReference("ghcr.io/a/b").isLocalhost))
    }

    @Test(arguments: [
        "", "Alpine", "alpine:", "alpine:-bad", "a//b", "-a", "a-", "a@sha256:abc", "a@sha256:" + String(repeating: "G", count: 64),
        "alpine:" + String(repeating: "t", count: 129), "bad_host:x/y", "a..b"
    ])
    func rejectsInvalidReferences(_ input: String) {
        #expect(throws: ReferenceError.self, "\(input)") { try ImageReference(input) }
    }
}
