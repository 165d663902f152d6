// `gvmc build` end to end with a static busybox as the only binary: multi-stage, RUN in the
// sandbox, COPY with .dockerignore and --chown, build args, heredocs; the image checked by the
// kernel's squashfs driver and by `gvmc inspect`.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum BuildFixture {
    static let busybox: String? = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let canRun = getuid() == 0 && busybox != nil && FileManager.default.fileExists(atPath: "/dev/loop-control")

    static func context(_ dockerfile: String, files: [String: String] = [:]) throws -> String {
        let dir = tempDirectory()
        try FileManager.default.copyItem(atPath: busybox!, toPath: dir + "/busybox")
        write(dir + "/Dockerfile", dockerfile)
        for (name, text) in files {
            try FileManager.default.createDirectory(atPath: (dir + "/" + name as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            write(dir + "/" + name, text)
        }
        return dir
    }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, loop mount) and busybox (apt-get install busybox-static)"))
struct BuildCommand {
    let dockerfile = """
    ARG GREETING=hello
    FROM scratch AS tools
    COPY busybox /bin/busybox
    RUN ["/bin/busybox", "--install", "-s", "/bin"]

    FROM tools AS build
    ARG GREETING
    RUN echo "$GREETING from $(hostname)" > /greeting.txt

    FROM tools
    RUN mkdir -p /etc && printf 'root:x:0:0::/root:/bin/sh\\napp:x:1000:1000::/home/app:/bin/sh\\n' > /etc/passwd \\
     && printf 'root:x:0:\\napp:x:1000:\\n' > /etc/group
    WORKDIR /golem/work
    COPY --from=build /greeting.txt ./
    COPY --chown=app:app src/ ./src/
    COPY <<EOF /golem/work/run.sh
    #!/bin/sh
    cat /golem/work/greeting.txt
    EOF
    RUN chmod 755 /golem/work/run.sh
    ENV MODE=fast
    USER app
    VOLUME /golem/output
    ENTRYPOINT ["/golem/work/run.sh"]
    """

    @Test func buildsAnImageTheKernelReadsWithTheRightConfig() throws {
        let ctx = try BuildFixture.context(dockerfile, files: ["src/task.py": "print(1)\n", "src/notes.md": "x", ".dockerignore": "**/*.md\n"])
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let out = ctx + "/out.gvmi"
        let r = GVMCBinary.run(["build", "--build-arg", "GREETING=hi", "-o", out, ctx])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix(out + "  size "))
        #expect(r.err.contains("Dockerfile:24:1: warning: ENTRYPOINT is not run on Golem"))
        let inspect = GVMCBinary.run(["inspect", "--json", out])
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any])
        let config = try #require(doc["config"] as? [String: Any])
        #expect(config["User"] as? String == "1000:1000")
        #expect(config["WorkingDir"] as? String == "/golem/work")
        #expect(config["Env"] as? [String] == ["MODE=fast"])
        #expect((config["Volumes"] as? [String: Any])?.keys.sorted() == ["/golem/output"])
        let mnt = ctx + "/mnt"
        try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
        let mount = Process()
        mount.executableURL = URL(fileURLWithPath: "/bin/mount")
        mount.arguments = ["-o", "loop,ro", "-t", "squashfs", out, mnt]
        try mount.run(); mount.waitUntilExit()
        #expect(mount.terminationStatus == 0)
        defer { let u = Process(); u.executableURL = URL(fileURLWithPath: "/bin/umount"); u.arguments = [mnt]; try? u.run(); u.waitUntilExit() }
        #expect(try String(contentsOfFile: mnt + "/golem/work/greeting.txt", encoding: .utf8) == "hi from buildkitsandbox\n")
        #expect(FileManager.default.fileExists(atPath: mnt + "/golem/work/src/task.py"))
        #expect(!FileManager.default.fileExists(atPath: mnt + "/golem/work/src/notes.md"))
        let owner = try FileManager.default.attributesOfItem(atPath: mnt + "/golem/work/src/task.py")[.ownerAccountID] as? Int
        #expect(owner == 1000)
        #expect(try String(contentsOfFile: mnt + "/golem/work/run.sh", encoding: .utf8).hasPrefix("#!/bin/sh\n"))
        for boot in ["proc", "sys", "dev", "tmp", "var/tmp"] { #expect(FileManager.default.fileExists(atPath: mnt + "/" + boot), "\(boot)") }
        var st = stat()
        #expect(lstat(mnt + "/etc/resolv.conf", &st) == 0 && st.st_mode & S_IFMT == S_IFREG)
        #expect(!FileManager.default.fileExists(atPath: mnt + "/.dockerenv"))
    }

    @Test func aFailingRunStopsTheBuildWithItsLineAndLeavesNothing() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"exit 3\"]\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let before = Set((try? FileManager.default.contentsOfDirectory(atPath: "/var/tmp")) ?? [])
        let r = GVMCBinary.run(["build", "-o", ctx + "/out.gvmi", ctx])
        #expect(r.status == 1)
        #expect(r.err.contains("Dockerfile:3:1: RUN") && r.err.contains("exit code 3"))
        #expect(!FileManager.default.fileExists(atPath: ctx + "/out.gvmi"))
        let after = Set((try? FileManager.default.contentsOfDirectory(atPath: "/var/tmp")) ?? [])
        #expect(after.subtracting(before).filter { $0.hasPrefix("gvmc-build-") }.isEmpty)
    }

    @Test func contextPathsCannotEscapeTheContext() throws {
        let ctx = try BuildFixture.context("FROM scratch\nCOPY ../../etc/passwd /p\nCOPY link /l\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        symlink("/etc/shadow", ctx + "/link")
        let r = GVMCBinary.run(["build", "-o", ctx + "/out.gvmi", ctx])
        #expect(r.status == 1)
        // `../../etc/passwd` is clamped to the context root, where there is no etc/passwd.
        #expect(r.err.contains("Dockerfile:2:1: COPY failed: ../../etc/passwd: no such file"), "\(r.err)")
        let r2 = GVMCBinary.run(["build", "-f", "-", "-o", ctx + "/out.gvmi", ctx], stdin: "FROM scratch\nCOPY link /l\n")
        #expect(r2.status == 1 && r2.err.contains("outside the build context"), "\(r2.err)")
    }
}
