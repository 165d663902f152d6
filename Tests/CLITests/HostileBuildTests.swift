// Attacks on `gvmc build` by a hostile Dockerfile or base image (issue 14), each run for real:
// the gvmc binary, images made at test time, the host checked afterwards.
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized, .enabled(if: BuildFixture.canRun, "needs root (RUN namespaces, mounts) and busybox"))
struct HostileBuild {
    /// A killed build's directory (and its overlay mount) are collected by the next build; a
    /// running build's directory is left alone.
    @Test func killedBuildsAreCollectedAndRunningOnesAreNot() throws {
        let scratch = Scratch()
        let tmp = scratch.sub("tmp")
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        let ctx = try BuildFixture.context("FROM scratch\nCOPY busybox /bin/busybox\nCOPY busybox /bin/sh\nARG N\nRUN /bin/busybox sleep $N\n")
        defer { try? FileManager.default.removeItem(atPath: ctx) }
        func start(_ seconds: Int) throws -> Process {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: GVMCBinary.path)
            p.arguments = ["build", "--build-arg", "N=\(seconds)", "-o", scratch.sub("\(seconds).gvmi"), "--cache-dir", scratch.sub("cache"), ctx]
            p.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp]) { $1 }
            p.standardError = FileHandle.nullDevice
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            return p
        }
        func buildDirectories() -> Set<String> { Set(((try? FileManager.default.contentsOfDirectory(atPath: tmp)) ?? []).filter { $0.hasPrefix("gvmc-build-") }) }
        func mounted() -> Bool { ((try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? "").contains(tmp + "/") }
        func waitFor(_ what: String, _ condition: () -> Bool) -> Bool {
            for _ in 0..<400 where !condition() { usleep(50_000) }
            let ok = condition()
            #expect(ok, "timed out waiting for \(what)")
            return ok
        }
        let killed = try start(2)
        guard waitFor("the first build's mount", { !buildDirectories().isEmpty && mounted() }) else { return }
        usleep(300_000)
        kill(killed.processIdentifier, SIGKILL)
        killed.waitUntilExit()
        sleep(3)  // the orphaned step ends
        let stale = buildDirectories()
        #expect(stale.count == 1 && mounted(), "a killed build leaves its directory and mount: \(stale)")
        let running = try start(8)
        guard waitFor("the next build to collect the killed one's directory", { buildDirectories().count == 1 && buildDirectories() != stale }) else { return }
        let mine = buildDirectories()
        // A third build while the second runs: the second's directory stays.
        let next = GVMCBinary.run(["build", "--build-arg", "N=0", "-o", scratch.sub("0.gvmi"), "--cache-dir", scratch.sub("cache"), ctx], env: ["TMPDIR": tmp])
        #expect(next.status == 0, "\(next.err)")
        #expect(running.isRunning && buildDirectories() == mine, "the running build's directory is untouched")
        running.waitUntilExit()
        #expect(running.terminationStatus == 0, "the running build was not disturbed")
        #expect(buildDirectories().isEmpty && !mounted(), "nothing is left mounted or on disk")
    }
}
