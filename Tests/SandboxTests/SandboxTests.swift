// The RUN sandbox with a real busybox root filesystem: isolation of processes, mounts, network
// and files, users, exit statuses, and nothing left behind.
import Foundation
import Sandbox
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum BusyboxRoot {
    static let busybox: String? = ["/bin/busybox", "/usr/bin/busybox"].first { FileManager.default.isExecutableFile(atPath: $0) }
    static let available = getuid() == 0 && busybox != nil

    /// A root filesystem with a static busybox and its applets, /etc/passwd and /etc/group.
    static func make() throws -> String {
        var template = Array("/tmp/gvmc-sandbox-XXXXXX".utf8CString)
        let root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        chmod(root, 0o755)
        let fm = FileManager.default
        for d in ["bin", "etc", "tmp", "home/app", "proc", "sys", "dev"] {
            try fm.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true)
        }
        try fm.copyItem(atPath: busybox!, toPath: root + "/bin/busybox")
        for applet in [
            "sh", "ls", "ps", "id", "cat", "echo", "touch", "mount", "hostname", "sleep", "ip", "true", "false", "test", "grep", "wc"
        ] {
            symlink("busybox", root + "/bin/" + applet)
        }
        fm.createFile(
            atPath: root + "/etc/passwd", contents: Data("root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n".utf8))
        fm.createFile(atPath: root + "/etc/group", contents: Data("root:x:0:\napp:x:1000:\n".utf8))
        return root
    }

    /// Runs `sh -c script` and returns (status, stdout).
    static func run(_ root: String, _ script: String, configure: (inout SandboxSpec) -> Void = { _ in }) throws -> (Int32, String) {
        var spec = SandboxSpec(rootfs: root, arguments: ["sh", "-c", script], environment: ["PATH=/bin", "HOME=/root"])
        configure(&spec)
        var fds: [Int32] = [0, 0]
        pipe(&fds)
        let status = try Sandbox.run(spec, stdout: fds[1], stderr: fds[1])
        close(fds[1])
        var out = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = read(fds[0], &buffer, buffer.count)
            if n <= 0 { break }
            out.append(contentsOf: buffer[0..<n])
        }
        close(fds[0])
        return (status, String(decoding: out, as: UTF8.self))
    }
}

@Suite(.serialized, .enabled(if: BusyboxRoot.available, "needs root (namespaces) and busybox (apt-get install busybox-static)"))
struct SandboxIsolation {
    @Test func commandRunsAsPidOneAndSeesNoHostProcess() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, out) = try BusyboxRoot.run(root, "echo pid=$$; ps -o pid,comm | wc -l")
        #expect(status == 0)
        #expect(out.contains("pid=1"))
        let lines = Int(out.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "") ?? 99
        #expect(lines <= 4, "ps inside saw: \(out)")  // header, sh, ps, wc
    }

    @Test func exitStatusAndMissingCommandsAreReported() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try BusyboxRoot.run(root, "exit 42").0 == 42)
        // A process killed by a signal: 128 + signal, passed up by the shell as BuildKit reports it.
        #expect(try BusyboxRoot.run(root, "sh -c 'kill -9 $$'; exit $?").0 == 128 + 9)
        var spec = SandboxSpec(rootfs: root, arguments: ["no-such-program"], environment: ["PATH=/bin"])
        spec.resolvConf = nil
        #expect { try Sandbox.run(spec) } throws: { "\($0)".contains("not found in PATH") && "\($0)".contains("no-such-program") }
    }

    @Test func filesWrittenStayInsideTheRootAndMountsVanish() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = "/tmp/gvmc-sandbox-escape-\(getpid())"
        let (status, _) = try BusyboxRoot.run(root, "touch \(marker) /made-inside; cd /..; touch ../../escape")
        #expect(status == 0)
        #expect(!FileManager.default.fileExists(atPath: marker))
        #expect(FileManager.default.fileExists(atPath: root + marker))
        #expect(FileManager.default.fileExists(atPath: root + "/made-inside"))
        let mounts = try String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)
        #expect(!mounts.contains(root), "mounts left behind under \(root)")
        // The step's resolv.conf/hosts mount points were created and removed again.
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/resolv.conf"))
        #expect(!FileManager.default.fileExists(atPath: root + "/etc/hosts"))
    }

    @Test func hostResolverFilesAreVisibleReadOnlyDuringTheStep() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, out) = try BusyboxRoot.run(root, "cat /etc/hosts | wc -l; echo x >> /etc/hosts && echo WRITABLE; hostname")
        #expect(status == 0)
        #expect(!out.contains("WRITABLE"))
        #expect(out.contains("buildkitsandbox"))
    }

    @Test func networkNoneHasOnlyLoopback() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (_, isolated) = try BusyboxRoot.run(root, "cat /proc/net/dev") { $0.isolateNetwork = true }
        let interfaces = isolated.split(separator: "\n").dropFirst(2).map {
            $0.split(separator: ":")[0].trimmingCharacters(in: .whitespaces)
        }
        #expect(interfaces == ["lo"], "\(isolated)")
    }

    @Test func userAndGroupsAreSwitched() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let (status, out) = try BusyboxRoot.run(root, "id -u; id -g; id -G; cd /home/app && pwd") {
            $0.uid = 1000; $0.gid = 1000; $0.supplementaryGroups = [1000, 27]; $0.workingDirectory = "/home/app"
        }
        #expect(status == 0)
        #expect(out.split(separator: "\n").map(String.init) == ["1000", "1000", "1000 27", "/home/app"])
    }

    @Test func killingTheStepKillsEveryProcessInIt() throws {
        let root = try BusyboxRoot.make()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let started = Date()
        let killer = Thread {
            Thread.sleep(forTimeInterval: 0.5)
            RunningSandboxes.shared.killAll()
        }
        killer.start()
        let (status, _) = try BusyboxRoot.run(root, "sleep 1000 & sleep 1000 & wait")
        #expect(status == 128 + 9)
        #expect(Date().timeIntervalSince(started) < 10)
        let leftover = Tools.processes().filter { $0.contains("sleep 1000") }
        #expect(leftover.isEmpty, "\(leftover)")
    }
}

enum Tools {
    static func processes() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { pid -> String? in
            guard Int(pid) != nil, let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return nil }
            return String(decoding: data.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self)
        }
    }
}
