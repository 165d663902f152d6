// Step cache keys are built from KeyMaterial: every operand counts, and no value can pass for
// another's field boundary.
@testable import BuildPlan
@testable import DockerfileInstructions
import Testing

@Suite struct StepKeyMaterial {
    let run = RunStep(
        argv: ["/bin/sh", "-c", "make"], environment: ["A=1"], workingDirectory: "/src", user: nil,
        network: "default", mounts: [], files: [:])

    @Test func everyRunOperandChangesTheKey() {
        var variants: [RunStep] = []
        var r = run; r.argv = ["/bin/sh", "-c", "make install"]; variants.append(r)
        r = run; r.environment = ["A=2"]; variants.append(r)
        r = run; r.workingDirectory = "/"; variants.append(r)
        r = run; r.user = "1000"; variants.append(r)
        r = run; r.user = ""; variants.append(r)  // an empty USER is not "no USER"
        r = run; r.network = "none"; variants.append(r)
        r = run; var m = RunMount(); m.type = .cache; m.target = "/root/.cache"; r.mounts = [m]; variants.append(r)
        r = run; r.files = ["/tmp/script": "echo"]; variants.append(r)
        let keys = ([run] + variants).map(\.keyMaterial.bytes)
        #expect(Set(keys).count == keys.count)
        #expect(run.keyMaterial.bytes == run.keyMaterial.bytes)
    }

    @Test func fieldBoundariesCannotBeFaked() {
        var a = run, b = run
        a.argv = ["/bin/sh", "-c", "a b"]
        b.argv = ["/bin/sh", "-c", "a", "b"]
        #expect(a.keyMaterial.bytes != b.keyMaterial.bytes)
        a = run; b = run
        a.argv = ["x"]; a.environment = ["y"]
        b.argv = ["x", "y"]; b.environment = []
        #expect(a.keyMaterial.bytes != b.keyMaterial.bytes)
    }

    @Test func copyOperandsChangeTheKey() {
        let copy = CopyStep(
            source: .context, paths: ["src/"], inlineFiles: [], destination: "/app/", chown: nil, chmod: nil,
            link: false, parents: false, excludes: [], isAdd: false, unpack: nil, checksum: nil)
        var variants: [CopyStep] = []
        var c = copy; c.source = .stage(0); variants.append(c)
        c = copy; c.source = .image("alpine"); variants.append(c)
        c = copy; c.chown = "1000"; variants.append(c)
        c = copy; c.chmod = "755"; variants.append(c)
        c = copy; c.isAdd = true; variants.append(c)
        c = copy; c.excludes = ["*.o"]; variants.append(c)
        c = copy; c.inlineFiles = [(name: "a", content: "b")]; variants.append(c)
        c = copy; c.unpack = false; variants.append(c)
        c = copy; c.keepGitDir = true; variants.append(c)
        let keys = ([copy] + variants).map(\.keyMaterial.bytes)
        #expect(Set(keys).count == keys.count)
    }
}
