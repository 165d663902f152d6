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
        guard Tools.exists("qemu-system-x86_64") else {
            return .failure(VMUnavailable("qemu-system-x86_64 missing (apt-get install qemu-system-x86)"))
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let r = Tools.run([root + "/scripts/fetch-vm-kernel.sh"])
        let dir = r.output.split(separator: "\n").last.map(String.init) ?? ""
        guard r.status == 0, let version = try? FileManager.default.contentsOfDirectory(atPath: dir + "/lib/modules").first else {
            return .failure(VMUnavailable("no Debian kernel: scripts/fetch-vm-kernel.sh failed: \(r.output)"))
        }
        return .success(["--kernel", "\(dir)/boot/vmlinuz-\(version)", "--modules", "\(dir)/lib/modules/\(version)"])
    }()

    struct VMUnavailable: Error, CustomStringConvertible { let description: String; init(_ d: String) { description = d } }

    static var isAvailable: Bool { if case .success = kernel { return true }; return false }
}

@Suite(
    .serialized, .enabled(if: BuildFixture.canRun, "needs root (namespaces, loop mount) and busybox (apt-get install busybox-static)"),
    .enabled(
        if: VMFixture.isAvailable,
        "needs qemu-system-x86_64 (apt-get install qemu-system-x86) and Debian's kernel from scripts/fetch-vm-kernel.sh (apt-get download linux-image-amd64, kmod's depmod)"
    ))
struct RunVMTests {
    let image: String
    let kernelArguments: [String]

    init() throws {
        image = try #require(RunFixture.images, "the test images could not be built").numeric
        kernelArguments = try VMFixture.kernel.get()
    }

    @Test func theSameCommandsGiveTheSameOutputAndExitCodeInTheSandboxAndInTheVM() throws {
        let volume = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: volume) }
        chmod(volume, 0o777)
        let script =
            "id; pwd; hostname; cat /etc/resolv.conf; tail -1 /etc/hosts; ls -A /golem/output; env; stat -c %a /tmp; echo to-stderr >&2; echo out > /golem/output/written; exit 7"
        let cases: [(options: [String], command: [String], status: Int32)] = [
            (["-v", volume + ":/golem/output"], ["--", "/bin/sh", "-c", script], 7),
            (["--golem-runtime", "0.4", "--env", "EXTRA=1"], ["--", "/bin/env"], 0),
            (["--entrypoint"], [], 0)
        ]
        for (i, c) in cases.enumerated() {
            unlink(volume + "/written")
            let sandbox = RunFixture.run(c.options + [image] + c.command)
            unlink(volume + "/written")
            let vm = RunFixture.run(["--vm"] + (i == 0 ? [] : ["--accel", "tcg"]) + kernelArguments + c.options + [image] + c.command)
            #expect(sandbox.status == c.status, "sandbox: \(sandbox.err)")
            #expect(vm.status == c.status, "vm: \(vm.err)")
            #expect(
                vm.out == sandbox.out, "stdout differs for \(c.command):\nsandbox:\n\(sandbox.out)\nvm:\n\(vm.out)\nvm stderr:\n\(vm.err)")
            #expect(vm.err.contains("accelerator: "), "\(vm.err)")
            if i == 0 {
                #expect(vm.err.contains("to-stderr"), "\(vm.err)")
                #expect(
                    (try? String(contentsOfFile: volume + "/written", encoding: .utf8)) == "out\n",
                    "the VM's write into the volume is not on the host")
            }
        }
        // A command given without a path: the same explanation, before any VM boots.
        let relative = RunFixture.run(["--vm"] + kernelArguments + [image, "--", "echo", "hi"])
        #expect(relative.status == 127 && relative.err.contains("/bin/echo") && !relative.err.contains("accelerator"), "\(relative.err)")
    }

    /// Without a command: one VM, each line of input a `/bin/sh -c LINE` in it, as in sandbox mode.
    @Test func anInteractiveSessionInTheVMRunsEachLineInTheSameGuest() {
        let input = "echo one > /tmp/f; echo written\n\ncat /tmp/f; id -u; exit 3\n"
        let sandbox = RunFixture.run([image], stdin: input)
        let vm = RunFixture.run(["--vm", "--accel", "tcg"] + kernelArguments + [image], stdin: input)
        #expect(sandbox.out == "written\none\n1000\n", "\(sandbox.out) \(sandbox.err)")
        #expect(vm.out == sandbox.out, "\(vm.out) \(vm.err)")
        #expect(vm.err.contains("exit code 0") && vm.err.contains("exit code 3") && vm.status == 0, "\(vm.err)")
    }

    @Test func ctrlCDuringAVMRunLeavesNoQemuAndNoDirectoryBehind() throws {
        let tmp = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: tmp) }
        let pid = EscapeFixture.spawnGVMC(
            ["run", "--vm", "--accel", "tcg"] + kernelArguments + [image, "--", "/bin/sleep", "600"], tmp: tmp)
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

    /// A realistic image: Debian minbase (debootstrap, cached by scripts/bench-rootfs.sh) packed
    /// by gvmc, run in both modes.
    @Test(.enabled(if: Tools.exists("debootstrap"), "needs debootstrap for the Debian minbase image"))
    func aDebianMinbaseImageRunsAlikeInBothModes() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        let r = Tools.run([root + "/scripts/bench-rootfs.sh"])
        let rootfs = try #require(r.output.split(separator: "\n").last.map(String.init), "no Debian rootfs: \(r.output)")
        let dir = tempDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        write(dir + "/config.json", #"{"Env":["PATH=/usr/bin:/bin","LANG=C.UTF-8"],"Volumes":{"/golem/output":{}},"WorkingDir":"/root"}"#)
        let p = GVMCBinary.run(["pack", "--config", dir + "/config.json", "-o", dir + "/debian.gvmi", rootfs])
        #expect(p.status == 0, "\(p.err)")
        let command = [
            "--", "/bin/sh", "-c",
            ". /etc/os-release; echo $ID $VERSION_ID; id; pwd; ls -A /golem/output; cat /etc/resolv.conf; echo ${LANG:-no-LANG}; exit 3"
        ]
        let sandbox = RunFixture.run([dir + "/debian.gvmi"] + command)
        #expect(sandbox.status == 3 && sandbox.out.hasPrefix("debian 12\nuid=0(root) gid=0(root)"), "\(sandbox.out) \(sandbox.err)")
        #expect(sandbox.out.hasSuffix("nameserver 1.1.1.1\nnameserver 8.8.8.8\nno-LANG\n"), "\(sandbox.out)")
        let relative = RunFixture.run([dir + "/debian.gvmi", "--", "ls"])
        #expect(relative.status == 127 && relative.err.contains("/usr/bin/ls"), "\(relative.err)")
        let vm = RunFixture.run(["--vm", "--accel", "tcg"] + kernelArguments + [dir + "/debian.gvmi"] + command)
        #expect(vm.status == 3, "\(vm.err)")
        #expect(vm.out == sandbox.out, "sandbox:\n\(sandbox.out)\nvm:\n\(vm.out)\n\(vm.err)")
        // A WorkingDir the image lacks: the process cannot start, on a provider as in both modes.
        write(dir + "/config.json", #"{"WorkingDir":"/golem/work"}"#)
        #expect(GVMCBinary.run(["pack", "--config", dir + "/config.json", "-o", dir + "/nodir.gvmi", rootfs]).status == 0)
        let noDirectory = ["--", "/bin/true"]
        let s2 = RunFixture.run([dir + "/nodir.gvmi"] + noDirectory)
        let v2 = RunFixture.run(["--vm", "--accel", "tcg"] + kernelArguments + [dir + "/nodir.gvmi"] + noDirectory)
        #expect(s2.status == 126 && v2.status == 126, "sandbox \(s2.status): \(s2.err)\nvm \(v2.status): \(v2.err)")
        #expect(s2.err.contains("working directory") && v2.err.contains("working directory /golem/work"), "\(s2.err)\n\(v2.err)")
    }
}
