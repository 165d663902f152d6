// The provider's reading of an image configuration, without running anything: User, WorkingDir,
// the environment per runtime version, argv[0], ENTRYPOINT+CMD, volume paths, sizes.
import GVMI
import ImageSpec
import Runtime
import Testing

@Suite struct ProviderSemanticsTests {
    func config(
        user: String? = nil, env: [String]? = ["PATH=/usr/bin:/bin", "MODE=fast"], workingDir: String? = nil,
        entrypoint: [String]? = nil, cmd: [String]? = nil
    ) -> ContainerConfig {
        var c = ContainerConfig()
        c.user = user; c.env = env; c.workingDir = workingDir; c.entrypoint = entrypoint; c.cmd = cmd
        return c
    }

    @Test func aNumericUserRunsAsThatUidAndGid() {
        let who = ProviderSemantics.identity(user: " 1000 : 1000 ")
        #expect(who.uid == 1000 && who.gid == 1000 && who.warning == nil)
    }

    @Test func aUserNameOrAUidAloneRunsAsRootWithAWarning() {
        for user in ["worker", "1000", "worker:worker", "1000:"] {
            let who = ProviderSemantics.identity(user: user)
            #expect(who.uid == 0 && who.gid == 0, "\(user)")
            #expect(who.warning?.contains("root") == true, "\(user)")
        }
        #expect(ProviderSemantics.identity(user: nil).warning == nil)
        #expect(ProviderSemantics.identity(user: "").warning == nil)
    }

    @Test func runtime05StartsProcessesWithAnEmptyEnvironmentAnd04WithTheImages() throws {
        let c = config()
        let new = try ProviderSemantics.process(config: c, request: .command(["/bin/env"]), version: .v0_5, extraEnvironment: [])
        #expect(new.process.environment.isEmpty)
        let old = try ProviderSemantics.process(
            config: c, request: .command(["/bin/env"]), version: .v0_4, extraEnvironment: ["MODE=slow", "X=1"])
        #expect(old.process.environment == ["PATH=/usr/bin:/bin", "MODE=slow", "X=1"])
        let dropped = try ProviderSemantics.process(config: c, request: .command(["/bin/env"]), version: .v0_5, extraEnvironment: ["X=1"])
        #expect(dropped.process.environment.isEmpty && dropped.warnings.contains { $0.contains("--env is dropped") })
    }

    @Test func theCommandIsExecdByItsPathWithItsBaseNameAsArgv0() throws {
        let p = try ProviderSemantics.process(
            config: config(workingDir: "/golem/work"), request: .command(["/bin/echo", "hi"]), version: .v0_5, extraEnvironment: []
        ).process
        #expect(p.executable == "/bin/echo" && p.arguments == ["echo", "hi"] && p.workingDirectory == "/golem/work")
        let root = try ProviderSemantics.process(
            config: config(workingDir: "  "), request: .command(["echo"]), version: .v0_5, extraEnvironment: []
        ).process
        #expect(root.workingDirectory == "/" && root.executable == "echo")
    }

    @Test func startEntrypointRunsEntrypointThenCmd() throws {
        let c = config(entrypoint: ["/bin/sh", "-c"], cmd: ["echo started"])
        let p = try ProviderSemantics.process(config: c, request: .entrypoint, version: .v0_5, extraEnvironment: []).process
        #expect(p.executable == "/bin/sh" && p.arguments == ["sh", "-c", "echo started"])
        #expect(throws: RunError.noEntrypoint) {
            try ProviderSemantics.process(config: config(), request: .entrypoint, version: .v0_5, extraEnvironment: [])
        }
    }

    @Test func aRelativeCommandsExplanationSaysWhatToWrite() {
        let text = ProviderSemantics.relativeCommandExplanation("echo", found: ["/bin/echo"])
        #expect(text.contains("no PATH search") && text.contains("/bin/echo"))
    }

    @Test func volumePathsAProviderRefusesAreErrors() throws {
        for bad in ["/data/", "a//b", "rel", "/", "/a/../b"] {
            #expect(throws: RunError.self) { try VolumePlan.checkDeclared(bad) }
        }
        try VolumePlan.checkDeclared("/golem/output")
    }

    @Test func aBindingForAPathThatIsNoVolumeListsTheVolumes() {
        #expect(throws: RunError.notAVolume("/nope", declared: ["/golem/input", "/golem/output"])) {
            try VolumePlan.plan(declared: ["/golem/output", "/golem/input"], bindings: ["/tmp:/nope"], workdir: "/w")
        }
    }

    @Test func freshVolumesGetDirectoriesUnderTheWorkdirAndBoundOnesTheirHostDirectory() throws {
        let plan = try VolumePlan.plan(declared: ["/golem/output", "/golem/input"], bindings: ["/tmp:/golem/input"], workdir: "/w")
        #expect(plan.map(\.path) == ["/golem/input", "/golem/output"])
        #expect(plan[0].bound && plan[0].hostDirectory.hasSuffix("tmp"))
        #expect(!plan[1].bound && plan[1].hostDirectory.hasPrefix("/w/vol-"))
    }

    @Test func sizesReadAsGolemsGiBOrWithAUnit() {
        #expect(RunConfiguration.parseSize("0.25") == 256 << 20)
        #expect(RunConfiguration.parseSize("512M") == 512 << 20)
        #expect(RunConfiguration.parseSize("1GiB") == 1 << 30)
        #expect(RunConfiguration.parseSize("nope") == nil)
        #expect(GolemRuntimeVersion.v0_4.overlayBytes(memoryBytes: 1 << 30) == 128 << 20)
        #expect(GolemRuntimeVersion.v0_5.overlayBytes(memoryBytes: 1 << 30) == 512 << 20)
    }
}
