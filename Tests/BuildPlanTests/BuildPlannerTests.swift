// The interpreter's semantics, instruction by instruction, as BuildKit defines them.
import BuildPlan
import DockerfileInstructions
import DockerfileSyntax
import Testing

func plan(
    _ text: String, args: [String: String] = [:], target: String? = nil,
    base: @escaping BaseConfigLookup = { _, _ in nil }
) throws -> BuildPlan {
    var o = BuildOptions()
    o.buildArgs = args
    o.target = target
    return try BuildPlanner.plan(
        try StagedDockerfile.parse(try DockerfileParser.parse(text, path: "Dockerfile")), options: o, baseConfig: base)
}

func runs(_ stage: PlannedStage) -> [RunStep] {
    stage.steps.compactMap { if case .run(let r) = $0.kind { return r } else { return nil } }
}

func copies(_ stage: PlannedStage) -> [CopyStep] {
    stage.steps.compactMap { if case .copy(let c) = $0.kind { return c } else { return nil } }
}

@Suite struct ArgAndEnvScoping {
    @Test func globalArgsReachOnlyFromUnlessRedeclared() throws {
        let p = try plan(
            """
            ARG VERSION=1.0
            ARG UNSET
            FROM alpine:$VERSION
            RUN echo "[$VERSION]"
            ARG VERSION
            ARG UNSET
            LABEL v=$VERSION u=${UNSET-unset} stage=${TARGETARCH:-none}
            ARG TARGETARCH
            LABEL arch=$TARGETARCH
            """)
        let stage = p.targetStage
        #expect(stage.base == .image("alpine:1.0"))
        #expect(runs(stage)[0].environment.contains { $0.hasPrefix("VERSION=") } == false)
        #expect(stage.config.labels == ["v": "1.0", "u": "unset", "stage": "none", "arch": "amd64"])
    }

    @Test func buildArgsOverrideDeclaredArgsOnly() throws {
        let p = try plan(
            "ARG A=global\nFROM scratch\nARG A\nARG B=default\nLABEL a=$A b=$B c=${C:-undeclared}\n",
            args: ["A": "cli", "B": "cli-b", "C": "cli-c"])
        #expect(p.targetStage.config.labels == ["a": "cli", "b": "cli-b", "c": "undeclared"])
    }

    @Test func anInstructionSeesTheEnvironmentFromBeforeIt() throws {
        let p = try plan("FROM scratch\nENV a=1\nENV a=2 b=$a\nLABEL a=$a b=$b\n")
        #expect(p.targetStage.config.labels == ["a": "2", "b": "1"])
        #expect(p.targetStage.config.envList == ["a=2", "b=1"])
    }

    @Test func runEnvironmentHasEnvArgsAndProxyArgs() throws {
        let p = try plan(
            "FROM scratch\nENV PATH=/bin\nARG MODE=fast\nARG EMPTY\nRUN make\n", args: ["http_proxy": "http://proxy:3128", "OTHER": "x"])
        #expect(runs(p.targetStage)[0].environment == ["PATH=/bin", "MODE=fast", "http_proxy=http://proxy:3128"])
    }

    @Test func childStagesInheritArgsAndEnvOfTheirParentStage() throws {
        let p = try plan(
            "FROM scratch AS base\nARG V=9\nENV E=e\nFROM base\nLABEL v=$V e=$E\nFROM scratch AS other\nLABEL v=${V:-none}\n", target: "1")
        #expect(p.targetStage.config.labels == ["v": "9", "e": "e"])
        let q = try plan("FROM scratch AS base\nARG V=9\nFROM scratch AS other\nLABEL v=${V:-none}\n")
        #expect(q.targetStage.config.labels == ["v": "none"])
    }

    /// FROM --platform is expanded with the global args (BUILDPLATFORM among them) and the base
    /// image's configuration is asked for that platform; TARGETARCH stays the build's target.
    @Test func fromPlatformReachesTheBaseLookup() throws {
        final class Asked: @unchecked Sendable { var calls: [String] = [] }
        let asked = Asked()
        var o = BuildOptions()
        o.targetPlatform = "linux/arm64"
        o.buildPlatform = "linux/amd64"
        let text =
            "ARG P=linux/riscv64\nFROM --platform=$BUILDPLATFORM golang AS build\nARG TARGETARCH\nRUN echo $TARGETARCH\nFROM --platform=$P tool AS t\nFROM alpine\nCOPY --from=build /x /x\nCOPY --from=t /y /y\n"
        let p = try BuildPlanner.plan(try StagedDockerfile.parse(try DockerfileParser.parse(text, path: "Dockerfile")), options: o) {
            ref, platform in
            asked.calls.append("\(ref) \(platform ?? "-")")
            return nil
        }
        #expect(asked.calls == ["golang linux/amd64", "tool linux/riscv64", "alpine -"])
        #expect(p.stages.map(\.platform) == ["linux/amd64", "linux/riscv64", nil])
        #expect(runs(p.stages[0]).first?.environment.contains("TARGETARCH=arm64") == true)
    }

    @Test func baseImageEnvironmentIsVisible() throws {
        var config = ImageConfig()
        config.setEnv("PATH", "/usr/local/bin:/usr/bin")
        config.workingDir = "/srv"
        let p = try plan(
            "FROM python:3.11\nENV PATH=/opt/venv/bin:$PATH\nCOPY app.py .\n", base: { r, _ in r == "python:3.11" ? config : nil })
        #expect(p.targetStage.config.envValue("PATH") == "/opt/venv/bin:/usr/local/bin:/usr/bin")
        #expect(copies(p.targetStage)[0].destination == "/srv/")
    }
}

@Suite struct ImageConfiguration {
    @Test func shellFormIsWrappedInTheStageShell() throws {
        let p = try plan(
            "FROM scratch\nCMD echo hi\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nENTRYPOINT run me\nRUN make all\n")
        let c = p.targetStage.config
        #expect(c.entrypoint == ["/bin/bash", "-eo", "pipefail", "-c", "run me"])
        #expect(c.cmd == ["/bin/sh", "-c", "echo hi"])
        #expect(runs(p.targetStage)[0].argv == ["/bin/bash", "-eo", "pipefail", "-c", "make all"])
    }

    @Test func entrypointClearsAnInheritedCmdButNotOneSetInTheStage() throws {
        let p = try plan("FROM scratch AS base\nCMD [\"serve\"]\nFROM base\nENTRYPOINT [\"/app\"]\n")
        #expect(p.targetStage.config.cmd == nil)
        let q = try plan("FROM scratch AS base\nCMD [\"serve\"]\nFROM base\nCMD [\"run\"]\nENTRYPOINT [\"/app\"]\n")
        #expect(q.targetStage.config.cmd == ["run"])
        let r = try plan("FROM scratch\nENTRYPOINT [\"/a\"]\nENTRYPOINT\n")
        #expect(r.targetStage.config.entrypoint == nil)
    }

    @Test func workdirVolumeExposeLabelsHealthcheckAndOnbuild() throws {
        let p = try plan(
            """
            FROM scratch
            ENV ROOT=/golem
            WORKDIR $ROOT
            WORKDIR work
            VOLUME $ROOT/output /data
            EXPOSE 80 8000-8002/UDP
            USER 1000:1000
            STOPSIGNAL SIGINT
            HEALTHCHECK --retries=2 CMD ["/bin/check"]
            ONBUILD RUN echo child
            """)
        let c = p.targetStage.config
        #expect(c.workingDir == "/golem/work")
        #expect(c.volumes == ["/golem/output", "/data"])
        #expect(c.exposedPorts == ["80/tcp", "8000/udp", "8001/udp", "8002/udp"])
        #expect(c.user == "1000:1000" && c.stopSignal == "SIGINT")
        #expect(c.healthcheck?.test == ["CMD", "/bin/check"] && c.healthcheck?.retries == 2)
        #expect(c.onBuild == ["RUN echo child"])
        let dirs: [String] = p.targetStage.steps.compactMap {
            if case .makeDirectory(let path, _) = $0.kind { return path } else { return nil }
        }
        #expect(dirs == ["/golem", "/golem/work"])
    }
}

@Suite struct StepsAndStages {
    @Test func copyDestinationsAndSources() throws {
        let p = try plan(
            "FROM scratch AS build\nFROM scratch\nWORKDIR /app\nARG SRC=src\nCOPY --chown=1:2 $SRC/ ./\nCOPY --from=build /out/bin /usr/bin/tool\nCOPY a b dir/\n"
        )
        let c = copies(p.targetStage)
        #expect(c[0].paths == ["src/"] && c[0].destination == "/app/" && c[0].chown == "1:2" && c[0].source == .context)
        #expect(c[1].source == .stage(0) && c[1].destination == "/usr/bin/tool")
        #expect(c[2].destination == "/app/dir/")
        #expect(throws: DockerfileError.self) { try plan("FROM scratch\nCOPY a b /file\n") }
    }

    @Test func copyHeredocBodiesExpandUnlessQuoted() throws {
        let p = try plan("FROM scratch\nENV NAME=golem\nCOPY <<EOF <<\"RAW\" /etc/\nhello $NAME \"q\"\nEOF\nkeep $NAME\nRAW\n")
        let inline = copies(p.targetStage)[0].inlineFiles
        #expect(inline.map(\.name) == ["EOF", "RAW"])
        #expect(inline[0].content == "hello golem \"q\"\n")
        #expect(inline[1].content == "keep $NAME\n")
    }

    @Test func runHeredocForms() throws {
        let p = try plan(
            "FROM scratch\nRUN <<EOF\necho one\nEOF\nRUN <<EOF\n#!/usr/bin/env python3\nprint(1)\nEOF\nRUN <<A cat && <<B cat\na\nA\nb\nB\n"
        )
        let r = runs(p.targetStage)
        #expect(r[0].argv == ["/bin/sh", "-c", "echo one\n"])
        #expect(
            r[1].argv == ["/bin/sh", "-c", "/dev/pipes/heredoc-5"]
                && r[1].files["/dev/pipes/heredoc-5"] == "#!/usr/bin/env python3\nprint(1)\n")
        #expect(r[2].argv == ["/bin/sh", "-c", "<<A cat && <<B cat\na\nA\nb\nB"])
    }

    @Test func runMountValuesAreExpanded() throws {
        let p = try plan("FROM scratch\nARG CACHE=/root/.cache\nRUN --mount=type=cache,target=$CACHE --network=none make\n")
        let r = runs(p.targetStage)[0]
        #expect(r.mounts.first?.target == "/root/.cache" && r.mounts.first?.type == .cache)
        #expect(r.network == "none")
    }

    @Test func onlyTheStagesTheTargetNeedsAreBuilt() throws {
        let text = "FROM scratch AS a\nFROM scratch AS b\nFROM a AS c\nCOPY --from=b /x /x\nFROM scratch AS unused\n"
        #expect(try plan(text, target: "c").stages.map(\.index) == [0, 1, 2])
        #expect(try plan(text).stages.map(\.index) == [3])
        #expect(throws: DockerfileError.self) { try plan(text, target: "nope") }
    }

    @Test func circularDependenciesAreRejected() throws {
        #expect {
            try plan("FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n", target: "a")
        } throws: { "\($0)".contains("circular dependency detected on stage") }
        #expect { try plan("FROM scratch AS a\nCOPY --from=a /x /y\n") } throws: { "\($0)".contains("circular dependency") }
    }

    @Test func platformArgsInFrom() throws {
        let p = try plan(
            "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nARG TARGETOS TARGETARCH\nRUN GOOS=$TARGETOS GOARCH=$TARGETARCH go build\nLABEL t=$TARGETOS/$TARGETARCH\n"
        )
        #expect(p.targetStage.platform == "linux/amd64")
        #expect(p.targetStage.config.labels["t"] == "linux/amd64")
        #expect(runs(p.targetStage)[0].environment.contains("TARGETARCH=amd64"))
    }

    @Test func expansionErrorsCarryThePosition() throws {
        #expect { try plan("FROM scratch\nENV X=\"${Y:?must be set}\"\n") } throws: { error in
            guard let e = error as? DockerfileError else { return false }
            return e.position.line == 2 && e.message.contains("Y: must be set")
        }
    }
}

@Suite struct BaseImageTriggers {
    @Test func onBuildTriggersOfTheBaseRunFirstAndAreCleared() throws {
        var base = ImageConfig()
        base.setEnv("FROM_BASE", "yes")
        base.onBuild = ["ENV TRIGGERED=$FROM_BASE", "RUN echo from-trigger", "COPY . /app"]
        let p = try plan("# app\nFROM onbuild-base\nRUN echo mine\n", base: { r, _ in r == "onbuild-base" ? base : nil })
        let stage = p.targetStage
        #expect(runs(stage).map(\.argv) == [["/bin/sh", "-c", "echo from-trigger"], ["/bin/sh", "-c", "echo mine"]])
        #expect(copies(stage).first?.destination == "/app")
        #expect(stage.config.envValue("TRIGGERED") == "yes", "a trigger expands with the base's environment")
        #expect(stage.config.onBuild.isEmpty, "triggers do not pass on to the next image")
        #expect(stage.steps.first?.node.position.line == 2, "trigger steps are reported at the FROM")
    }

    @Test func forbiddenOrBrokenTriggersNameTheFrom() {
        for (trigger, why) in [
            ("FROM x", "FROM is not allowed as a trigger"), ("ONBUILD RUN x", "ONBUILD is not allowed as a trigger"),
            ("RUN --bogus=1 x", "unknown flag")
        ] {
            var base = ImageConfig()
            base.onBuild = [trigger]
            var message = ""
            do { _ = try plan("FROM b\n", base: { _, _ in base }) } catch { message = "\(error)" }
            #expect(message.hasPrefix("Dockerfile:1:6: ONBUILD trigger \"\(trigger)\" of b: ") && message.contains(why), "\(message)")
        }
    }
}

/// `RUN --mount from=` is resolved once, when the step is planned, as `COPY --from` is: a
/// stage's name (any case) or index, else an image; no `from=` is the build context.
@Suite struct MountSources {
    @Test func mountFromNamesAStageByNameOrIndexElseAnImage() throws {
        let p = try plan(
            """
            FROM scratch AS Builder
            COPY a /a
            FROM scratch
            RUN --mount=type=bind,from=builder,source=/a,target=/x \\
                --mount=type=bind,from=0,target=/y \\
                --mount=type=bind,from=alpine:3,target=/z \\
                --mount=type=bind,target=/ctx \\
                --mount=type=cache,target=/c \\
                true
            COPY --from=builder /a /b
            """)
        let run = try #require(runs(p.targetStage).first)
        #expect(run.mountSources == [.stage(0), .stage(0), .image("alpine:3"), .context, .context])
        #expect(copies(p.targetStage).first?.source == .stage(0), "the same rule as COPY --from")
    }
}

/// The one rule for git sources of ADD (BuildKit's): what the executor fetches with git and
/// what the step key resolves to a commit.
@Suite struct GitSources {
    @Test func gitSchemesScpFormsAndDotGitURLsAreGitOthersAreNot() {
        for git in [
            "git://host/repo", "ssh://git@host/repo", "git@github.com:org/repo.git", "git@host:repo#main",
            "https://host/org/repo.git", "http://host/repo.git#v1.0:sub/dir"
        ] {
            #expect(CopyStep.isGitSource(git), "\(git)")
        }
        for other in [
            "https://host/file.tar.gz", "https://host/repo.git/file", "https://host/repo", "repo.git", "./x.git",
            "ftp://host/repo.git", "https://host/x#frag.git"
        ] {
            #expect(!CopyStep.isGitSource(other), "\(other)")
        }
    }
}
