// The build as a library, without the CLI: a request in, an image (or a typed error) out.
import Build
import BuildPlan
import Foundation
import Progress
import Registry
import SquashFS
import Testing
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

func request(_ dockerfile: String, context: String, output: String) -> BuildRequest {
    var squash = SquashFSOptions()
    squash.fixedTimestamp = 1_700_000_000
    return BuildRequest(
        dockerfile: Array(dockerfile.utf8), dockerfileName: "Dockerfile", contextDirectory: context,
        options: BuildOptions(), platform: "linux/amd64", cacheDirectory: context + "/cache",
        squashFS: squash, outputPath: output)
}

func noRegistry(_ platform: String) throws -> ImagePuller { throw RegistryError("no registry in this test") }

@Suite(.enabled(if: geteuid() == 0, "needs root (the build's working roots)"))
struct ImageBuildLibrary {
    @Test func aRequestBuildsAnImageWithTheContextsFileAndGolemsBootFiles() throws {
        let scratch = Scratch()
        FileManager.default.createFile(atPath: scratch.sub("hello.txt"), contents: Data("hi\n".utf8))
        let build = ImageBuild(
            request("FROM scratch\nCOPY hello.txt /srv/\nWORKDIR /srv\n", context: scratch.path, output: scratch.sub("out.gvmi")),
            puller: noRegistry)
        let progress = BuildProgress(mode: .quiet)
        build.progress = progress
        let result = try build.run()
        build.finish()
        #expect(result.path == scratch.sub("out.gvmi") && result.sha3_224.count == 56)
        let entries = try SquashFSReader(path: result.path).entries()
        let file = try #require(entries.first { $0.path == "/srv/hello.txt" })
        #expect(file.size == 3)
        #expect(entries.contains { $0.path == "/dev" })  // the boot files Golem's init needs
        #expect(
            progress.records.map(\.name) == [
                "[internal] load build definition from Dockerfile", "[internal] load .dockerignore",
                "[1/2] COPY hello.txt /srv/", "[2/2] WORKDIR /srv", "writing image \(scratch.sub("out.gvmi"))"
            ])
        #expect(progress.records.allSatisfy { $0.completed != nil && $0.error == nil })
        // The same request again: the same bytes.
        let again = ImageBuild(
            request("FROM scratch\nCOPY hello.txt /srv/\nWORKDIR /srv\n", context: scratch.path, output: scratch.sub("again.gvmi")),
            puller: noRegistry)
        #expect(try again.run().sha3_224 == result.sha3_224)
        again.finish()
    }

    @Test func errorsSayWhatFailedAndWhere() throws {
        let scratch = Scratch()
        func failure(_ dockerfile: String) -> BuildError? {
            do {
                _ = try ImageBuild(request(dockerfile, context: scratch.path, output: scratch.sub("x.gvmi")), puller: noRegistry).run();
                return nil
            } catch { return error }
        }
        guard case .definition(let syntax)? = failure("FROM scratch\nCOPY\n") else { Issue.record("no definition error"); return }
        #expect(syntax.hasPrefix("Dockerfile:2:1:"), "\(syntax)")
        guard case .definition(let base)? = failure("FROM scratch\nFROM example.invalid/app:1\n") else {
            Issue.record("no base image error"); return
        }
        #expect(base.contains("Dockerfile:2:1: FROM example.invalid/app:1: no registry in this test"), "\(base)")
        guard case .step(let step)? = failure("FROM scratch\nCOPY missing.txt /\n") else { Issue.record("no step error"); return }
        #expect("\(step)".contains("missing.txt"))
        #expect(!FileManager.default.fileExists(atPath: scratch.sub("x.gvmi")))
    }
}

@Suite struct BuildInputs {
    @Test func environmentSecretsBecomePrivateFilesRemovedAfterwards() throws {
        setenv("GVMC_TEST_SECRET", "s3cret", 1)
        let files = try SecretFiles(["id=token,env=GVMC_TEST_SECRET"])
        let path = try #require(files.paths["token"])
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(FileManager.default.contents(atPath: path) == Data("s3cret".utf8))
        files.remove()
        #expect(access(path, F_OK) != 0)
        #expect { try SecretFiles(["src=/etc/hostname"]) } throws: { "\($0)".contains("id= is required") }
        #expect { try SecretFiles(["id=x,env=GVMC_TEST_UNSET_VARIABLE"]) } throws: {
            "\($0)".contains("GVMC_TEST_UNSET_VARIABLE is not set")
        }
    }

    @Test func cacheCollectionHonoursItsSetting() {
        let scratch = Scratch()
        #expect(CacheCollection.collect(scratch.path, setting: "off").isEmpty)
        #expect(
            CacheCollection.collect(scratch.path, setting: "lots") == [
                "warning: GVMC_CACHE_KEEP_STORAGE=lots is not a size; the cache was not collected"
            ])
    }
}
