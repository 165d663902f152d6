// The attacks a hostile RUN step (or a hostile base image's ONBUILD RUN) makes on the building host,
// against the real sandbox: each one must stay inside the step's root, as in a Docker container
// with the default confinement (pivot_root, capabilities, seccomp, masked kernel files, nodev).
import Foundation
import Sandbox
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Tests of the serialized SandboxIsolation suite: one of its tests kills every running step.
extension SandboxIsolation {
    /// A root with busybox and the applets the attacks use.
    static func confinementRoot() throws -> String {
        let root = try BusyboxRoot.make()
        for applet in ["mknod", "chroot", "umount", "unshare", "nsenter", "mkdir", "head", "rm", "stat"] {
            symlink("busybox", root + "/bin/" + applet)
        }
        return root
    }

    @Test func capabilitiesAndSeccompAreDockersDefaults() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, out) = try BusyboxRoot.run(root, "grep -E '^(CapBnd|CapEff|CapInh|CapAmb|Seccomp|NoNewPrivs):' /proc/self/status")
        #expect(status == 0)
        let fields = Dictionary(
            out.split(separator: "\n").map { line -> (String, String) in
                let kv = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                return (kv[0], kv.count > 1 ? kv[1] : "")
            }, uniquingKeysWith: { a, _ in a })
        // Docker's default set: chown dac_override fowner fsetid kill setgid setuid setpcap
        // net_bind_service net_raw sys_chroot mknod audit_write setfcap.
        #expect(fields["CapBnd"] == "00000000a80425fb", "\(out)")
        #expect(fields["CapEff"] == "00000000a80425fb", "\(out)")
        #expect(fields["CapInh"] == "0000000000000000")
        #expect(fields["CapAmb"] == "0000000000000000")
        #expect(fields["Seccomp"] == "2", "no seccomp filter: \(out)")
        // As in Docker: setuid programs (su, sudo) keep working.
        #expect(fields["NoNewPrivs"] == "0")
        // A non-root USER has no capabilities at all.
        let (_, user) = try BusyboxRoot.run(root, "grep -E '^CapEff:' /proc/self/status") {
            $0.uid = 1000; $0.gid = 1000
        }
        #expect(user.contains("0000000000000000"), "\(user)")
    }

    @Test func aChrootEscapeStaysInsideTheRoot() throws {
        guard let compiler = Self.compiler else {
            Issue.record("skipped: no C compiler with a static libc (clang or cc, libc6-dev) to build the escape program")
            return
        }
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = "/tmp/gvmc-chroot-escape-\(getpid())"
        defer { unlink(marker) }
        // The classic escape: chroot into a subdirectory while the working directory stays
        // outside it, climb with "..", and chroot to where that lands. Under chroot(2) it reaches
        // the host's /; after pivot_root the host's root is gone from the namespace.
        let source = """
            #include <fcntl.h>
            #include <sys/stat.h>
            #include <unistd.h>
            int main(void) {
                mkdir("/escape-dir", 0755);
                if (chroot("/escape-dir") != 0) return 2;
                for (int i = 0; i < 64; i++) chdir("..");
                if (chroot(".") != 0) return 3;
                int fd = open("\(marker)", O_CREAT | O_WRONLY, 0644);
                if (fd < 0) return 4;
                write(fd, "escaped\\n", 8);
                return 0;
            }
            """
        try Self.compileStatic(source, with: compiler, to: root + "/bin/escape")
        let (status, out) = try BusyboxRoot.run(root, "/bin/escape; echo status=$?")
        #expect(status == 0)
        #expect(out.contains("status=0"), "\(out)")
        #expect(!FileManager.default.fileExists(atPath: marker), "the step wrote \(marker) on the host")
        #expect(FileManager.default.fileExists(atPath: root + marker), "the file should have landed inside the root")
    }

    @Test func mountsNamespacesAndRemountsAreRefused() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/mnt", withIntermediateDirectories: true)
        let attempts = [
            "mount -t tmpfs none /mnt",
            "mount -o remount,rw /sys",
            "mount -o remount,rw /etc/resolv.conf",
            "mount -o remount,rw /proc/sys",
            "umount /etc/hosts",
            "umount -l /proc",
            "unshare -U -r true",
            "unshare -m true",
            "nsenter -t 1 -m true"
        ]
        let script = attempts.map { "if \($0) 2>/dev/null; then echo 'ALLOWED: \($0)'; fi" }.joined(separator: "; ")
        let (status, out) = try BusyboxRoot.run(root, script + "; echo done")
        #expect(status == 0)
        #expect(out.trimmingCharacters(in: .whitespacesAndNewlines) == "done", "\(out)")
        // The resolver files stay read-only after those attempts.
        let (_, write) = try BusyboxRoot.run(root, "echo nameserver 6.6.6.6 >> /etc/resolv.conf && echo WRITTEN")
        #expect(!write.contains("WRITTEN"))
    }

    @Test func kernelFilesAreMaskedOrReadOnly() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // Masked files read as empty; which of them exist depends on the kernel's configuration.
        let masked = ["/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/interrupts"].filter {
            FileManager.default.fileExists(atPath: $0)
        }
        #expect(!masked.isEmpty)
        let readOnly = ["/proc/sysrq-trigger", "/proc/sys", "/proc/irq", "/sys"].filter { FileManager.default.fileExists(atPath: $0) }
        let script =
            masked.map { "echo \($0)=$(head -c 16 \($0) 2>/dev/null | wc -c)" }.joined(separator: "; ") + """

                echo x > /proc/sys/kernel/domainname 2>/dev/null && echo SYSCTL-WRITTEN
                touch /sys/gvmc-test 2>/dev/null && echo SYS-WRITTEN
                cat /proc/self/mountinfo
                """
        let (status, out) = try BusyboxRoot.run(root, script)
        #expect(status == 0)
        for path in masked { #expect(out.contains("\(path)=0"), "\(path) is readable: \(out)") }
        #expect(!out.contains("SYSCTL-WRITTEN"))
        #expect(!out.contains("SYS-WRITTEN"))
        let mounts = out.split(separator: "\n").map { $0.split(separator: " ") }.filter { $0.count > 5 }
        for path in readOnly {
            let line = mounts.last { $0[4] == Substring(path) }
            #expect(line.map { $0[5].split(separator: ",").contains("ro") } == true, "\(path) is not mounted read-only: \(out)")
        }
    }

    @Test func devicesCannotBeMadeOrOpenedOutsideDev() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // A device node shipped by a hostile base image: a step must not be able to open it.
        #expect(mknod(root + "/imagedev", S_IFCHR | 0o666, dev_t((1 << 8) | 3)) == 0)
        let script = """
            mknod /tmp/disk b 8 0 2>/dev/null && echo BLOCK-MADE
            mknod /tmp/mem c 1 1 2>/dev/null && echo MEM-MADE
            mknod /tmp/null c 1 3 && echo null-made
            mknod /tmp/fifo p && echo fifo-made
            echo x > /imagedev 2>/dev/null && echo IMAGE-DEVICE-OPENED
            echo x > /dev/null && echo dev-null-works
            """
        let (status, out) = try BusyboxRoot.run(root, script)
        #expect(status == 0)
        #expect(!out.contains("BLOCK-MADE"), "\(out)")
        #expect(!out.contains("MEM-MADE"), "\(out)")
        #expect(!out.contains("IMAGE-DEVICE-OPENED"), "\(out)")
        #expect(out.contains("null-made") && out.contains("fifo-made") && out.contains("dev-null-works"), "\(out)")
    }

    @Test func descriptorsOfGvmcDoNotReachTheStep() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let hostDir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: hostDir) }
        // A descriptor open in gvmc without O_CLOEXEC (as a library might leave one).
        let fd = open(hostDir, O_RDONLY | O_DIRECTORY)
        #expect(fd > 2)
        defer { close(fd) }
        let (_, out) = try BusyboxRoot.run(root, "ls /proc/self/fd; echo pwned > /proc/self/fd/\(fd)/escaped && echo WRITTEN")
        #expect(!out.contains("WRITTEN"), "\(out)")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: hostDir)) == [])
        let fds = out.split(separator: "\n").compactMap { Int($0) }
        #expect(fds.allSatisfy { $0 <= 3 }, "descriptors seen by the step: \(fds)")  // 0-2 and ls's own
    }

    @Test func anEtcSymlinkToTheHostGetsNoMountPoints() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let hostDir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: hostDir) }
        try FileManager.default.removeItem(atPath: root + "/etc")
        #expect(symlink(hostDir, root + "/etc") == 0)
        // Looked at while the step runs: mount points made there would be removed after it (or
        // left behind if gvmc were killed).
        nonisolated(unsafe) var seen: [String]? = nil
        let watcher = Thread {
            Thread.sleep(forTimeInterval: 0.3)
            seen = try? FileManager.default.contentsOfDirectory(atPath: hostDir)
        }
        watcher.start()
        let (status, _) = try BusyboxRoot.run(root, "sleep 1")
        #expect(status == 0)
        #expect(seen == [], "files were made in the host directory during the step")
        #expect((try? FileManager.default.contentsOfDirectory(atPath: hostDir)) == [], "files were made in the host directory")
    }

    @Test func symlinkedMountPointsResolveInsideTheRoot() throws {
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let hostDir = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: hostDir) }
        // /proc as an absolute symlink to a host directory: the mount lands inside the root (at
        // the path the symlink names there), never on the host's directory.
        try FileManager.default.removeItem(atPath: root + "/proc")
        #expect(symlink(hostDir, root + "/proc") == 0)
        try FileManager.default.createDirectory(atPath: root + hostDir, withIntermediateDirectories: true)
        let (status, out) = try BusyboxRoot.run(root, "head -c 5 /proc/self/status")
        #expect(status == 0)
        #expect(out == "Name:", "\(out)")
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(hostDir))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: hostDir)) == [])
    }

    /// With the default network a step shares the host's network namespace, and with it the
    /// host's abstract Unix sockets (a containerd-shim socket was a container escape): Landlock
    /// (Linux 6.12+) keeps the step from connecting to any made outside it.
    @Test func hostAbstractSocketsAreOutOfReach() throws {
        guard let compiler = Self.compiler else {
            Issue.record("skipped: no C compiler with a static libc (clang or cc, libc6-dev) to build the client")
            return
        }
        guard Sandbox.landlockABI >= 6 else {
            Issue.record(
                "skipped: this kernel's Landlock (ABI \(Sandbox.landlockABI)) cannot scope abstract sockets (needs ABI 6, Linux 6.12)")
            return
        }
        let root = try Self.confinementRoot()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let name = "gvmc-test-\(getpid())"
        // A listener on the host, in this test process.
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(listener >= 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = [UInt8(0)] + Array(name.utf8)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in for (i, b) in path.enumerated() { buffer[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) } }
        #expect(bound == 0)
        #expect(listen(listener, 4) == 0)
        let source = """
            #include <errno.h>
            #include <stdio.h>
            #include <string.h>
            #include <sys/socket.h>
            #include <sys/un.h>
            int main(int argc, char **argv) {
                struct sockaddr_un a = {0};
                a.sun_family = AF_UNIX;
                size_t n = strlen(argv[1]);
                memcpy(a.sun_path + 1, argv[1], n);
                int s = socket(AF_UNIX, SOCK_STREAM, 0);
                if (connect(s, (struct sockaddr *)&a, sizeof(sa_family_t) + 1 + n) == 0) { puts("CONNECTED"); return 0; }
                printf("refused: %s\\n", strerror(errno));
                return 1;
            }
            """
        try Self.compileStatic(source, with: compiler, to: root + "/bin/connect")
        let (_, out) = try BusyboxRoot.run(root, "/bin/connect \(name)")
        #expect(!out.contains("CONNECTED"), "the step reached the host's abstract socket: \(out)")
        #expect(out.contains("refused"), "\(out)")
    }

    // MARK: - Helpers

    static let compiler: String? = {
        for candidate in ["clang", "cc", "gcc"] {
            for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin").split(separator: ":") + [
                "/opt/swift/usr/bin", "/usr/bin"
            ] {
                let path = "\(dir)/\(candidate)"
                if access(path, X_OK) == 0,
                    access("/usr/lib/x86_64-linux-gnu/libc.a", R_OK) == 0 || access("/usr/lib/aarch64-linux-gnu/libc.a", R_OK) == 0
                {
                    return path
                }
            }
        }
        return nil
    }()

    static func compileStatic(_ source: String, with compiler: String, to output: String) throws {
        let dir = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try source.write(toFile: dir + "/p.c", atomically: true, encoding: .utf8)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: compiler)
        process.arguments = ["-static", "-O1", "-o", output, dir + "/p.c"]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(compiler) failed"])
        }
    }

    static func temporaryDirectory() throws -> String {
        var template = Array("/tmp/gvmc-host-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
    }
}
