// Unprivileged builds (the build issue's "Privileges"): the same Dockerfile built by root and by
// an ordinary user gives the same tree, read back through the kernel's squashfs driver: with
// subordinate ids (newuidmap), with only the user's own id mapped (owners and device nodes
// recorded for the writer), and with no user namespace at all (no RUN; owners recorded).
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A throw-away login user, and its /etc/subuid and /etc/subgid lines, removed afterwards.
final class TestUser {
    let name = "gvmc-unpriv"
    let uid: UInt32 = 47110
    private var originals: [(file: String, text: String?)] = []
    /// The user, /etc/subuid and /etc/subgid are the machine's: one TestUser at a time, across
    /// the suites running in parallel and across test processes (flock conflicts between two
    /// open files of one process too).
    private let lock: Int32

    init() throws {
        lock = open("/tmp/gvmc-test-user.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard lock >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        while flock(lock, LOCK_EX) != 0 {
            // Thrown after every property is set: deinit closes the descriptor.
            guard errno == EINTR else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
        }
        _ = Tools.run(["userdel", name])
        let add = Tools.run(["useradd", "-M", "-N", "-g", "nogroup", "-u", "\(uid)", "-s", "/bin/sh", name])
        guard add.status == 0 else { throw POSIXError(.EPERM, userInfo: ["useradd": add.output]) }
        originals = ["/etc/subuid", "/etc/subgid"].map { ($0, try? String(contentsOfFile: $0, encoding: .utf8)) }
    }

    deinit {
        restoreSubordinateIDs()
        _ = Tools.run(["userdel", name])
        close(lock)
    }

    /// Gives the user 65536 subordinate ids (or none).
    func subordinateIDs(_ on: Bool) throws {
        for (file, original) in originals {
            let kept = (original ?? "").split(separator: "\n").filter { !$0.hasPrefix(name + ":") }.map { $0 + "\n" }.joined()
            try (kept + (on ? "\(name):300000:65536\n" : "")).write(toFile: file, atomically: true, encoding: .utf8)
            chmod(file, 0o644)
        }
    }

    func restoreSubordinateIDs() {
        for (file, original) in originals {
            if let original {
                try? original.write(toFile: file, atomically: true, encoding: .utf8); chmod(file, 0o644)
            } else {
                unlink(file)
            }
        }
    }

    /// Runs gvmc as this user (its own cache and TMPDIR under `home`); `wrap` goes before gvmc
    /// (e.g. an unshare that leaves no user namespace to create).
    func gvmc(_ args: [String], home: String, wrap: [String] = []) -> (status: Int32, output: String) {
        Tools.run(
            ["setpriv", "--reuid=\(uid)", "--regid=65534", "--clear-groups"] + wrap
                + ["env", "HOME=\(home)", "TMPDIR=\(home)/tmp", "XDG_CACHE_HOME=\(home)/cache", "NO_COLOR=1", GVMCBinary.path] + args)
    }
}

extension ConvertCommand {
    @Test(
        .enabled(
            if: BuildFixture.canRun && Tools.exists("setpriv") && Tools.exists("newuidmap") && Tools.exists("useradd"),
            "needs root (to make a test user), loop devices, setpriv and newuidmap (uidmap)"))
    func unprivilegedBuildsGiveTheRootBuildsTree() throws {
        let scratch = Scratch()
        chmod(scratch.path, 0o755)
        let user = try TestUser()
        let home = scratch.sub("home")
        for dir in [home, home + "/tmp", home + "/cache"] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chown(dir, user.uid, 65534)
        }
        let base = "\(RegistryFixture.registry("PLAIN"))/test/user:v1"
        func context(_ name: String, _ dockerfile: String) throws -> String {
            let ctx = scratch.sub(name)
            try FileManager.default.createDirectory(atPath: ctx + "/src", withIntermediateDirectories: true)
            write(ctx + "/src/task.sh", "#!/bin/sh\necho task\n")
            chmod(ctx + "/src/task.sh", 0o755)
            write(ctx + "/Dockerfile", dockerfile)
            return ctx
        }
        // The base image has a file owned by 1000:1001, a device node, a fifo, a setuid file,
        // hardlinks and a user xattr; the steps add owners, an opaque directory and a whiteout.
        let copies = """
            FROM \(base) AS files
            FROM \(base)
            COPY src/ /app/src/
            COPY --chown=1500:1500 src/task.sh /app/owned.sh
            COPY --from=files /home/app /copied-home
            COPY --from=files /devices-null /copied-null
            WORKDIR /app
            """
        let runs =
            copies + "\n" + """
                USER root
                RUN ["/bin/busybox", "--install", "-s", "/bin"]
                RUN rm -rf /opq && mkdir /opq && echo new > /opq/new && rm /bin/ls && echo "$(id -u):$(id -g)" > /app/id
                """
        let owners =
            runs + "\n" + """
                RUN echo "worker:x:1500:1500::/app:/bin/sh" >> /etc/passwd && echo "worker:x:1500:" >> /etc/group && chown worker /app /app/id
                USER worker
                RUN id -u > /app/worker-id && touch /app/by-worker
                """
        let cases: [(String, String)] = [("copies", copies), ("runs", runs), ("owners", owners)]
        var contexts: [String: String] = [:]
        for (name, text) in cases { contexts[name] = try context(name, text) }

        func tree(_ image: String) throws -> [String: EntrySnapshot] {
            let mnt = scratch.sub("mnt")
            try FileManager.default.createDirectory(atPath: mnt, withIntermediateDirectories: true)
            let m = Tools.run(["mount", "-o", "loop,ro", "-t", "squashfs", image, mnt])
            try #require(m.status == 0, "\(m.output)")
            defer { _ = Tools.run(["umount", mnt]) }
            return try TreeSnapshot.take(mnt, mtimes: false)
        }
        var rootTrees: [String: [String: EntrySnapshot]] = [:]
        for (name, _) in cases {
            let out = scratch.sub("root-\(name).gvmi")
            let r = GVMCBinary.run(["build", "--progress", "quiet", "-o", out, "--cache-dir", scratch.sub("root-cache"), contexts[name]!])
            try #require(r.status == 0, "\(r.err)")
            rootTrees[name] = try tree(out)
        }
        #expect(rootTrees["owners"]?["/app/worker-id"]?.size == 5 && rootTrees["owners"]?["/app/by-worker"]?.uid == 1500)
        #expect(rootTrees["runs"]?["/copied-null"]?.type == "char" && rootTrees["runs"]?["/devices-null"]?.type == "char")

        func expectSame(_ name: String, _ mode: String) throws {
            let out = home + "/\(mode)-\(name).gvmi"
            let r = user.gvmc(
                ["build", "--progress", "quiet", "-o", out, contexts[name]!], home: home,
                wrap: mode == "none" ? ["unshare", "--user", "--map-user=\(user.uid)"] : [])
            #expect(r.status == 0, "\(mode) \(name): \(r.output)")
            guard r.status == 0 else { return }
            var st = stat()
            #expect(stat(out, &st) == 0 && st.st_uid == user.uid, "the image belongs to the user who built it")
            let differences = TreeSnapshot.diff(rootTrees[name]!, try tree(out))
            #expect(
                differences.isEmpty,
                "\(mode) \(name): the unprivileged tree differs from root's:\n\(differences.prefix(20).joined(separator: "\n"))")
        }

        // The shared step cache between two unprivileged runners (their own cache directories):
        // every step of the second comes from what the first exported (owners, device nodes,
        // an opaque directory and a whiteout among them), and the tree is still root's.
        func expectSharedCache(_ name: String, _ mode: String) throws {
            let layout = home + "/shared-\(mode)-\(name)", out = home + "/b-\(mode)-\(name).gvmi"
            let a = user.gvmc(
                [
                    "build", "--progress", "plain", "--cache-dir", home + "/ca-\(mode)-\(name)", "-o", home + "/a-\(mode)-\(name).gvmi",
                    "--cache-to", "type=local,dest=\(layout)", contexts[name]!
                ], home: home)
            try #require(a.status == 0, "\(mode) \(name): \(a.output)")
            let b = user.gvmc(
                [
                    "build", "--progress", "plain", "--cache-dir", home + "/cb-\(mode)-\(name)", "-o", out,
                    "--cache-from", "type=local,src=\(layout)", contexts[name]!
                ], home: home)
            try #require(b.status == 0, "\(mode) \(name): \(b.output)")
            let steps = builtSteps(b.output)
            #expect(
                !steps.isEmpty && steps.allSatisfy(\.cached) && b.output.contains("CACHED (local \(layout):latest)"),
                "\(mode) \(name): \(b.output)")
            let differences = TreeSnapshot.diff(rootTrees[name]!, try tree(out))
            #expect(differences.isEmpty, "\(mode) \(name) through the shared cache:\n\(differences.prefix(20).joined(separator: "\n"))")
        }

        // Subordinate ids: every step, RUN as another user included.
        try user.subordinateIDs(true)
        for (name, _) in cases { try expectSame(name, "subids") }
        try expectSharedCache("owners", "subids")
        // Only the user's own id: owners and device nodes are recorded, RUN runs as root only.
        try user.subordinateIDs(false)
        try expectSame("copies", "single")
        try expectSame("runs", "single")
        try expectSharedCache("runs", "single")
        let refused = user.gvmc(["build", "--progress", "quiet", "-o", home + "/x.gvmi", contexts["owners"]!], home: home)
        #expect(
            refused.status == 1 && refused.output.contains("Dockerfile:11:1: RUN")
                && refused.output.contains("no range for \(user.name) in /etc/subuid"), "\(refused.output)")
        // No user namespace at all (the user's gid is unmapped in the namespace it runs in, so
        // the kernel refuses a nested one): a build without RUN still works, RUN says why not.
        try expectSame("copies", "none")
        let noRun = user.gvmc(
            ["build", "--progress", "quiet", "-o", home + "/y.gvmi", contexts["runs"]!], home: home,
            wrap: ["unshare", "--user", "--map-user=\(user.uid)"])
        #expect(
            noRun.status == 1 && noRun.output.contains("Dockerfile:9:1: RUN needs root or a user namespace")
                && noRun.output.contains("refuses user namespaces"), "\(noRun.output)")
        #expect(!FileManager.default.fileExists(atPath: home + "/x.gvmi") && !FileManager.default.fileExists(atPath: home + "/y.gvmi"))
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: home + "/tmp")) ?? ["?"]).isEmpty, "no build directory is left")
    }
}
