// `gvmc run --vm`: the same image booted in qemu (TCG here: KVM does not start guests on this
// machine type) with Debian's kernel, fetched by scripts/fetch-vm-kernel.sh (apt-get download,
// dpkg-deb -x, depmod -b; nothing installed). The same commands must give the same output and
// exit code as in sandbox mode, and Ctrl-C must leave no qemu and no temporary directory.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

enum VMFixture {
    /// `--kernel FILE --modules DIR`, or why there is none.
    static let kernel: Result<[String], VMUnavailable> = {
        guard Tools.exists("qemu-system-x86_64") else { return .failure(VMUnavailable("qemu-system-x86_64 missing (apt-get install qemu-system-x86)")) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let r = Tools.run([root + "/scripts/fetch-vm-kernel.sh"])
        let dir = r.output.split(separator: "\n").last.map(String.init) ?? ""
        guard r.status == 0, let version = try? FileManager.default.contentsOfDirectory(atPath: dir + "/lib/modules").first else {
            return .failure(VMUnavailable("no Debian kernel: scripts/fetch-vm-kernel.sh failed: \(r.output)"))
        }
        return .success(["--kernel", "\(dir)/boot/vmlinuz-\(version)", "--modules", "\(dir)/lib/modules/\(version)"])
    }()

    struct VMUnavailable: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }
}

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (namespaces, loop mount) and busybox (apt-get install busybox-static)"))
struct RunVMTests {
    let image: String
    let kernelArguments: [String]

    init() throws {
        image = try #require(RunFixture.images, "the test images could not be built").numeric
        switch VMFixture.kernel {
        case .success(let a): kernelArguments = a
        case .failure(let why): kernelArguments = []; print("RunVMTests skipped: \(why)")
        }
    }

    @Test func theSameCommandsGiveTheSameOutputAndExitCodeInTheSandboxAndInTheVM() throws {
        guard !kernelArguments.isEmpty else { return }
        let volume = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: volume) }
        chmod(volume, 0o777)
        let script = "id; pwd; hostname; cat /etc/resolv.conf; tail -1 /etc/hosts; ls -A /golem/output; env; stat -c %a /tmp; echo to-stderr >&2; echo out > /golem/output/written; exit 7"
        let cases: [(options: [String], command: [String], status: Int32)] = [
            (["-v", volume + ":/golem/output"], ["--", "/bin/sh", "-c", script], 7),
            (["--golem-runtime", "0.4", "--env", "EXTRA=1"], ["--", "/bin/env"], 0),
            (["--entrypoint"], [], 0),
        ]
        for (i, c) in cases.enumerated() {
            unlink(volume + "/written")
            let sandbox = RunFixture.run(c.options + [image] + c.command)
            unlink(volume + "/written")
            let vm = RunFixture.run(["--vm"] + (i == 0 ? [] : ["--accel", "tcg"]) + kernelArguments + c.options + [image] + c.command)
            #expect(sandbox.status == c.status, "sandbox: \(sandbox.err)")
            #expect(vm.status == c.status, "vm: \(vm.err)")
            #expect(vm.out == sandbox.out, "stdout differs for \(c.command):\nsandbox:\n\(sandbox.out)\nvm:\n\(vm.out)\nvm stderr:\n\(vm.err)")
            #expect(vm.err.contains("accelerator: "), "\(vm.err)")
            if i == 0 {
                #expect(vm.err.contains("to-stderr"), "\(vm.err)")
                #expect((try? String(contentsOfFile: volume + "/written", encoding: .utf8)) == "out\n", "the VM's write into the volume is not on the host")
            }
        }
        // A command given without a path: the same explanation, before any VM boots.
        let relative = RunFixture.run(["--vm"] + kernelArguments + [image, "--", "echo", "hi"])
        #expect(relative.status == 127 && relative.err.contains("/bin/echo") && !relative.err.contains("accelerator"), "\(relative.err)")
    }

    @Test func ctrlCDuringAVMRunLeavesNoQemuAndNoDirectoryBehind() throws {
        guard !kernelArguments.isEmpty else { return }
        let tmp = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let pid = EscapeFixture.spawnGVMC(["run", "--vm", "--accel", "tcg"] + kernelArguments + [image, "--", "/bin/sleep", "600"], tmp: tmp)
        #expect(pid > 0)
        func qemus() -> [String] { EscapeFixture.processes().filter { $0.contains("qemu-system") && $0.contains(tmp) } }
        let deadline = Date().addingTimeInterval(30)
        while qemus().isEmpty && Date() < deadline { usleep(50_000) }
        #expect(!qemus().isEmpty, "qemu never started")
        sleep(3)
        kill(pid, SIGINT)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        #expect(status >> 8 & 0xff == 130, "exit status \(status >> 8 & 0xff)")
        let gone = Date().addingTimeInterval(5)
        while !qemus().isEmpty && Date() < gone { usleep(50_000) }
        #expect(qemus().isEmpty, "qemu outlived gvmc run")
        #expect(try FileManager.default.contentsOfDirectory(atPath: tmp).isEmpty, "temporary directories left in \(tmp)")
    }
}
