// `gvmc run` in sandbox mode against images gvmc builds: every difference between a provider
// and `docker run` that a user hits (no PATH search, ENV per runtime version, hidden VOLUME
// content, numeric USER, WorkingDir, hostname, resolv.conf, no network), exit codes, volumes on
// the host, and nothing left behind after Ctrl-C.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum RunFixture {
    /// A busybox image with what a provider treats specially: ENV, WORKDIR, a numeric USER, a
    /// VOLUME the image has a file under, ENTRYPOINT and CMD.
    static func dockerfile(user: String) -> String {
        """
        FROM scratch
        COPY busybox /bin/busybox
        RUN ["/bin/busybox", "--install", "-s", "/bin"]
        RUN mkdir -p /etc /golem/output /golem/work && echo from-the-image > /golem/output/image-file \\
         && echo kept > /golem/work/kept && printf 'root:x:0:0::/root:/bin/sh\\nworker:x:1000:1000::/golem:/bin/sh\\n' > /etc/passwd
        COPY hosts /etc/hosts
        ENV MODE=fast
        WORKDIR /golem/work
        USER \(user)
        VOLUME /golem/output
        ENTRYPOINT ["/bin/sh", "-c", "echo entrypoint $0 $1", "first"]
        CMD ["second"]
        """
    }

    /// The image built with `USER 1000:1000`, and one whose User is the name "worker" (gvmc build
    /// writes names as numbers, other builders do not: made with `gvmc pack --config`).
    static let images: (numeric: String, named: String)? = {
        guard BuildFixture.canRun,
            let ctx = try? BuildFixture.context(dockerfile(user: "1000:1000"), files: ["hosts": "127.0.0.1 image-entry\n"])
        else { return nil }
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        let dir = tempDirectory()
        let numeric = dir + "/numeric.gvmi", named = dir + "/named.gvmi"
        let r = GVMCBinary.run(["build", "--progress", "quiet", "-o", numeric, ctx])
        guard r.status == 0 else { print("fixture build failed: \(r.err)"); return nil }
        let rootfs = dir + "/rootfs"
        for sub in ["bin", "etc", "golem/output", "proc", "sys", "dev"] {
            try? FileManager.default.createDirectory(atPath: rootfs + "/" + sub, withIntermediateDirectories: true)
        }
        try? FileManager.default.copyItem(atPath: BuildFixture.busybox!, toPath: rootfs + "/bin/busybox")
        for applet in ["sh", "id", "ls", "ping", "true"] { symlink("busybox", rootfs + "/bin/" + applet) }
        write(rootfs + "/etc/passwd", "root:x:0:0::/root:/bin/sh\nworker:x:1000:1000::/golem:/bin/sh\n")
        write(rootfs + "/etc/hosts", "")
        write(dir + "/config.json", #"{"User":"worker","Volumes":{"/golem/output":{}}}"#)
        let p = GVMCBinary.run(["pack", "--config", dir + "/config.json", "-o", named, rootfs])
        guard p.status == 0 else { print("fixture pack failed: \(p.err)"); return nil }
        return (numeric, named)
    }()

    /// `gvmc run` with TMPDIR of its own, so what it leaves there can be checked.
    static func run(_ args: [String], stdin: String? = nil, tmp: String? = nil) -> (status: Int32, out: String, err: String) {
        GVMCBinary.run(["run"] + args, stdin: stdin, env: tmp.map { ["TMPDIR": $0] } ?? [:])
    }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (namespaces, loop mount) and busybox (apt-get install busybox-static)"))
struct RunCommandTests {
    let image: String, namedUserImage: String
    init() throws {
        let built = try #require(RunFixture.images, "the test images could not be built")
        (image, namedUserImage) = built
    }

    @Test func aFileWrittenIntoAVolumeIsInTheHostDirectory() throws {
        let host = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: host) }
        chmod(host, 0o777)  // the image runs as 1000:1000
        let r = RunFixture.run(["-v", "\(host):/golem/output", image, "--", "/bin/sh", "-c", "echo result > /golem/output/out.txt"])
        #expect(r.status == 0, "\(r.err)")
        #expect((try? String(contentsOfFile: host + "/out.txt", encoding: .utf8)) == "result\n")
        #expect(r.err.contains("volume /golem/output → \(host)"), "\(r.err)")
    }

    @Test func theCommandsExitCodeIsGvmcRunsExitCode() {
        let r = RunFixture.run([image, "--", "/bin/sh", "-c", "exit 7"])
        #expect(r.status == 7, "\(r.err)")
    }

    @Test func whatTheImageHasUnderAVolumeIsHidden() {
        let r = RunFixture.run([image, "--", "/bin/ls", "-A", "/golem/output", "/golem/work"])
        #expect(r.status == 0, "\(r.err)")
        #expect(!r.out.contains("image-file"), "the image's file under VOLUME /golem/output is visible: \(r.out)")
        #expect(r.out.contains("kept"), "\(r.out)")
    }

    @Test func aNumericUserRunsAsThatUidAndGidAndANameAsRootWithAWarning() throws {
        let numeric = RunFixture.run([image, "--", "/bin/id"])
        #expect(numeric.out.contains("uid=1000") && numeric.out.contains("gid=1000"), "\(numeric.out)")
        #expect(!numeric.err.contains("warning"), "\(numeric.err)")
        let named = RunFixture.run([namedUserImage, "--", "/bin/id"])
        #expect(named.out.contains("uid=0(root) gid=0"), "\(named.out)")
        #expect(named.err.contains("warning: the image's User \"worker\" is not a numeric uid:gid"), "\(named.err)")
    }

    @Test func theWorkingDirectoryIsWorkdir() {
        let r = RunFixture.run([image, "--", "/bin/pwd"])
        #expect(r.out == "/golem/work\n", "\(r.out) \(r.err)")
    }

    @Test func envIsPassedByRuntime04AndDroppedBy05() {
        let old = RunFixture.run(["--golem-runtime", "0.4", "--env", "EXTRA=1", image, "--", "/bin/env"])
        #expect(old.out.contains("MODE=fast") && old.out.contains("EXTRA=1"), "\(old.out) \(old.err)")
        let new = RunFixture.run([image, "--", "/bin/env"])
        #expect(new.status == 0 && new.out.isEmpty, "0.5.x gives an empty environment: \(new.out) \(new.err)")
        let dropped = RunFixture.run(["--env", "EXTRA=1", image, "--", "/bin/env"])
        #expect(dropped.out.isEmpty && dropped.err.contains("--env is dropped"), "\(dropped.err)")
    }

    @Test func theHostnameIsGolemAndResolvConfAndHostsAreGolems() {
        let r = RunFixture.run([image, "--", "/bin/sh", "-c", "hostname; cat /etc/resolv.conf /etc/hosts"])
        #expect(r.out.hasPrefix("golem\nnameserver 1.1.1.1\nnameserver 8.8.8.8\n127.0.0.1 image-entry\n127.0.0.1\tlocalhost\n"), "\(r.out)")
    }

    @Test func tmpIsAFreshTmpfsAnyoneMayWrite() {
        let r = RunFixture.run([image, "--", "/bin/sh", "-c", "stat -c %a /tmp; grep ' /tmp ' /proc/mounts"])
        #expect(r.out.hasPrefix("777\ntmpfs /tmp tmpfs"), "\(r.out)")
    }

    @Test func aCommandGivenWithoutAPathFailsAsOnAProviderAndGvmcSaysWhatToWrite() {
        let r = RunFixture.run([image, "--", "echo", "hi"])
        #expect(r.status == 127)
        #expect(r.out.isEmpty)
        #expect(r.err.contains("no PATH search") && r.err.contains("/bin/echo"), "\(r.err)")
        let missing = RunFixture.run([image, "--", "/usr/bin/python3"])
        #expect(missing.status == 127 && missing.err.contains("/usr/bin/python3"), "\(missing.err)")
    }

    @Test func entrypointModeRunsEntrypointThenCmd() {
        let r = RunFixture.run(["--entrypoint", image])
        #expect(r.status == 0 && r.out == "entrypoint first second\n", "\(r.out) \(r.err)")
    }

    @Test func networkNoneHasOnlyLoopbackAndHostHasTheHostsInterfaces() throws {
        let none = RunFixture.run([image, "--", "/bin/ls", "/sys/class/net"])
        #expect(none.out == "lo\n", "\(none.out) \(none.err)")
        let route = RunFixture.run([
            namedUserImage, "--", "/bin/sh", "-c", "ping -c 1 -W 1 1.1.1.1 2>&1; ping -c 1 -W 1 127.0.0.1 >/dev/null && echo loopback-up"
        ])
        #expect(route.out.contains("unreachable") && route.out.contains("loopback-up"), "\(route.out)")
        let host = RunFixture.run(["--network", "host", image, "--", "/bin/ls", "/sys/class/net"])
        let hostInterfaces = try FileManager.default.contentsOfDirectory(atPath: "/sys/class/net").sorted()
        #expect(host.out.split(separator: "\n").map(String.init).sorted() == hostInterfaces, "\(host.out)")
    }

    @Test func aBindingForAPathThatIsNoVolumeIsAnErrorListingTheVolumes() {
        let r = RunFixture.run(["-v", "/tmp:/data", image, "--", "/bin/true"])
        #expect(r.status == 125 && r.err.contains("the image's volumes: /golem/output"), "\(r.err)")
    }

    @Test func anInteractiveSessionRunsEachLineInTheSameImageAndShowsExitCodes() {
        let r = RunFixture.run([image], stdin: "echo one > /tmp/f; echo written\ncat /tmp/f; exit 3\n")
        #expect(r.out == "written\none\n", "\(r.out) \(r.err)")
        #expect(r.err.contains("exit code 0") && r.err.contains("exit code 3"), "\(r.err)")
        #expect(r.status == 0)
    }

    @Test func aWorkdirKeepsFreshVolumesAndEverythingElseGoes() throws {
        let tmp = tempDirectory(), work = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp); try? FileManager.default.removeItem(atPath: work) }
        let r = RunFixture.run(["--workdir", work, namedUserImage, "--", "/bin/sh", "-c", "echo kept > /golem/output/f"], tmp: tmp)
        #expect(r.status == 0, "\(r.err)")
        let volumes = try FileManager.default.contentsOfDirectory(atPath: work)
        #expect(volumes.count == 1 && (try? String(contentsOfFile: work + "/" + volumes[0] + "/f", encoding: .utf8)) == "kept\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty)
    }

    /// Ctrl-C in the middle of a command: the command, its mounts, the loop device, the cgroup
    /// and the temporary directories all go.
    @Test func ctrlCLeavesNoProcessMountLoopDeviceOrDirectoryBehind() throws {
        let tag = "9\(getpid() % 10000)\(Int.random(in: 100...999))"
        let tmp = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let pid = EscapeFixture.spawnGVMC(["run", image, "--", "/bin/sleep", tag], tmp: tmp)
        #expect(pid > 0)
        func commandRunning() -> Bool { EscapeFixture.processes().contains { $0.hasPrefix("sleep \(tag)") } }
        let deadline = Date().addingTimeInterval(30)
        while !commandRunning() && Date() < deadline { usleep(20_000) }
        #expect(commandRunning(), "the command never started")
        #expect(Tools.run(["losetup", "-a"]).output.contains(image), "no loop device while running")
        kill(pid, SIGINT)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status >> 8 & 0xff == 130, "exit status \(status >> 8 & 0xff)")
        #expect(!commandRunning(), "the command outlived gvmc run")
        let loops = Tools.run(["losetup", "-a"]).output
        #expect(!loops.contains(image), "loop device left: \(loops)")
        let mounts = Tools.run(["findmnt", "-rn", "-o", "TARGET"]).output
        #expect(!mounts.contains("gvmc-run-"), "mounts left: \(mounts)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "temporary directories left in \(tmp)")
        let groups = Tools.run(["find", "/sys/fs/cgroup", "-maxdepth", "4", "-name", "gvmc-run-*"]).output
        #expect(groups.isEmpty, "cgroups left: \(groups)")
    }

    /// An ordinary user with subordinate ids: the image is unpacked by gvmc's reader in a user
    /// namespace, and behaves as it does for root.
    @Test(
        .enabled(
            if: Tools.exists("setpriv") && Tools.exists("newuidmap") && Tools.exists("useradd"),
            "needs setpriv, newuidmap (uidmap) and useradd to run as an ordinary user"))
    func anOrdinaryUserRunsTheImageAsRootDoes() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let user = try TestUser()
        try user.subordinateIDs(true)
        let home = scratch.sub("home"), volume = scratch.sub("volume")
        for dir in [home, home + "/tmp", volume] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chown(dir, user.uid, 65534)
        }
        chmod(volume, 0o777)
        let copy = home + "/image.gvmi"
        try FileManager.default.copyItem(atPath: image, toPath: copy)
        chmod(copy, 0o644)
        let r = user.gvmc(
            [
                "run", "-v", volume + ":/golem/output", copy, "--", "/bin/sh", "-c",
                "id; pwd; hostname; ls -A /golem/output; echo out > /golem/output/f; exit 7"
            ], home: home)
        #expect(r.status == 7, "\(r.output)")
        #expect(r.output.contains("uid=1000(worker) gid=1000") && r.output.contains("/golem/work\ngolem\n"), "\(r.output)")
        #expect(!r.output.contains("image-file"), "\(r.output)")
        #expect((try? String(contentsOfFile: volume + "/f", encoding: .utf8)) == "out\n")
        #expect(try FileManager.default.contentsOfDirectory(atPath: home + "/tmp").isEmpty, "temporary directories left")
    }
}
