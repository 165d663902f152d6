// Layer 3: each instruction's flags, argument counts and values validated with BuildKit's rules,
// errors at the right line and column.
import Testing
import DockerfileSyntax
@testable import DockerfileInstructions

struct Rejection: CustomTestStringConvertible, Sendable {
    var dockerfile: String
    var message: String
    var position: String  // "line:column"
    var testDescription: String { message }
}

private func stages(_ text: String) throws -> StagedDockerfile {
    try StagedDockerfile.parse(try DockerfileParser.parse(text, path: "Dockerfile"))
}

private let rejections: [Rejection] = [
    .init(dockerfile: "RUN echo\n", message: "no build stage in current context", position: "1:1"),
    .init(dockerfile: "FROM a\nRUNN echo\n", message: "unknown instruction: RUNN (did you mean RUN?)", position: "2:1"),
    .init(dockerfile: "FROM a\nfrob x\n", message: "unknown instruction: frob (did you mean from?)", position: "2:1"),
    .init(dockerfile: "FROM a\nCOPY --chownn=1 a b\n", message: "unknown flag: --chownn (did you mean chown?)", position: "2:6"),
    .init(dockerfile: "FROM a\nCOPY --link --link a b\n", message: "duplicate flag specified: --link", position: "2:13"),
    .init(dockerfile: "FROM a\nCOPY --link= a b\n", message: "missing a value on flag: --link", position: "2:6"),
    .init(dockerfile: "FROM a\nCOPY --link=maybe a b\n", message: "expecting boolean value for flag --link, not: maybe", position: "2:6"),
    .init(dockerfile: "FROM a\nCOPY --from a b\n", message: "missing a value on flag: --from", position: "2:6"),
    .init(
        dockerfile: "FROM a\nCOPY onlyone\n",
        message: "COPY requires at least two arguments, but only one was provided. Destination could not be determined", position: "2:1"),
    .init(
        dockerfile: "FROM a\nADD x\n",
        message: "ADD requires at least two arguments, but only one was provided. Destination could not be determined", position: "2:1"),
    .init(dockerfile: "FROM a\nADD --from=x a b\n", message: "unknown flag: --from", position: "2:5"),
    .init(dockerfile: "FROM a\nCOPY a <<EOF\nx\nEOF\n", message: "COPY cannot accept a heredoc as a destination", position: "2:1"),
    .init(dockerfile: "FROM a b\n", message: "FROM requires either one or three arguments", position: "1:1"),
    .init(
        dockerfile: "FROM a AS 1st\n", message: "invalid name for build stage: \"1st\", name can't start with a number or contain symbols",
        position: "1:1"),
    .init(dockerfile: "FROM a AS b c\n", message: "FROM requires either one or three arguments", position: "1:1"),
    .init(dockerfile: "FROM --platfrom=x a\n", message: "unknown flag: --platfrom (did you mean platform?)", position: "1:6"),
    .init(dockerfile: "FROM a\nONBUILD ONBUILD RUN x\n", message: "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed", position: "2:1"),
    .init(dockerfile: "FROM a\nONBUILD FROM b\n", message: "FROM isn't allowed as an ONBUILD trigger", position: "2:1"),
    .init(dockerfile: "FROM a\nONBUILD maintainer me\n", message: "MAINTAINER isn't allowed as an ONBUILD trigger", position: "2:1"),
    .init(dockerfile: "FROM a\nONBUILD\n", message: "ONBUILD requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nWORKDIR\n", message: "WORKDIR requires exactly one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nUSER\n", message: "USER requires exactly one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nSTOPSIGNAL\n", message: "STOPSIGNAL requires exactly one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nMAINTAINER\n", message: "MAINTAINER requires exactly one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nMAINTAINER --x me\n", message: "unknown flag: --x", position: "2:12"),
    .init(dockerfile: "FROM a\nENV\n", message: "ENV requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nLABEL\n", message: "LABEL requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nENV =x\n", message: "ENV names can not be blank", position: "2:1"),
    .init(dockerfile: "FROM a\nARG\n", message: "ARG requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nARG =x\n", message: "ARG names can not be blank", position: "2:1"),
    .init(dockerfile: "FROM a\nEXPOSE\n", message: "EXPOSE requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nVOLUME\n", message: "VOLUME requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nVOLUME [\"\"]\n", message: "VOLUME specified can not be an empty string", position: "2:1"),
    .init(dockerfile: "FROM a\nSHELL /bin/bash -c\n", message: "SHELL requires the arguments to be in JSON form", position: "2:1"),
    .init(dockerfile: "FROM a\nSHELL []\n", message: "SHELL requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nHEALTHCHECK\n", message: "HEALTHCHECK requires at least one argument", position: "2:1"),
    .init(dockerfile: "FROM a\nHEALTHCHECK NONE x\n", message: "HEALTHCHECK NONE takes no arguments", position: "2:1"),
    .init(dockerfile: "FROM a\nHEALTHCHECK RUN x\n", message: "Unknown type \"RUN\" in HEALTHCHECK (try CMD)", position: "2:1"),
    .init(dockerfile: "FROM a\nHEALTHCHECK CMD\n", message: "Missing command after HEALTHCHECK CMD", position: "2:1"),
    .init(dockerfile: "FROM a\nHEALTHCHECK --interval=5 CMD x\n", message: "time: invalid duration \"5\"", position: "2:13"),
    .init(
        dockerfile: "FROM a\nHEALTHCHECK --timeout=1us CMD x\n", message: "Interval \"timeout\" cannot be less than 1ms", position: "2:13"),
    .init(dockerfile: "FROM a\nHEALTHCHECK --retries=-1 CMD x\n", message: "--retries cannot be negative (-1)", position: "2:1"),
    .init(
        dockerfile: "FROM a\nHEALTHCHECK --retries=x CMD x\n", message: "strconv.ParseInt: parsing \"x\": invalid syntax", position: "2:13"),
    .init(dockerfile: "FROM a\nRUN --network=bridge x\n", message: "invalid network mode \"bridge\"", position: "2:5"),
    .init(dockerfile: "FROM a\nRUN --security=privileged x\n", message: "unsupported security mode \"privileged\"", position: "2:5"),
    .init(dockerfile: "FROM a\nRUN --device=/dev/fuse x\n", message: "unknown flag: --device", position: "2:5"),
    .init(
        dockerfile: "FROM a\nRUN --mount=from=$STAGE,target=/x x\n",
        message: "'from' doesn't support variable expansion, define alias stage instead", position: "2:5"),
    .init(
        dockerfile: "FROM a\nRUN --mount='type=bind,\"a' x\n",
        message: "failed to parse csv mounts: extraneous or missing \" in quoted-field", position: "2:5"),
    .init(dockerfile: "FROM a\nRUN --mount x\n", message: "missing a value on flag: --mount", position: "2:5")
]

@Suite struct InstructionValidation {
    @Test(arguments: rejections)
    func rejectsWhatBuildKitRejects(_ row: Rejection) {
        do {
            _ = try stages(row.dockerfile)
            Issue.record("accepted: \(row.dockerfile)")
        } catch let error as DockerfileError {
            #expect(error.message == row.message)
            #expect(error.position.description == row.position, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func globalArgsAndStages() throws {
        let s = try stages("ARG V=1\nARG B\nFROM a:$V AS Build\nRUN x\nFROM build\nCOPY --from=Build /a /b\n")
        #expect(s.metaArgs.count == 2)
        #expect(s.stages.map(\.name) == ["build", nil])
        #expect(s.stages[0].from == FromInstruction(baseName: "a:$V", stageName: "build", platform: nil, asKeyword: "AS"))
        #expect(s.stage(named: "BUILD")?.index == 0)
        #expect(s.stage(named: "0")?.index == 0)
        #expect(s.stage(named: "alpine") == nil)
    }

    @Test func copyAndAddFlags() throws {
        let s = try stages(
            "FROM a\nCOPY --from=b --chown=1:2 --chmod=755 --link --parents --exclude=*.md --exclude=x a <<EOF /d/\nbody\nEOF\nADD --unpack=false --keep-git-dir --checksum=sha256:00 u /x\n"
        )
        guard case .copy(let copy) = s.stages[0].instructions[0].kind else { Issue.record("not copy"); return }
        #expect(copy.from == "b" && copy.chown == "1:2" && copy.chmod == "755" && copy.link && copy.parents)
        #expect(copy.excludes == ["*.md", "x"])
        #expect(copy.sources.sourcePaths == ["a"] && copy.sources.destination == "/d/")
        #expect(copy.sources.sourceContents == [InlineSource(path: "EOF", data: "body\n", expand: true)])
        guard case .add(let add) = s.stages[0].instructions[1].kind else { Issue.record("not add"); return }
        #expect(add.unpack == false && add.keepGitDir == true && add.checksum == "sha256:00" && !add.link)
    }

    @Test func runFlagsAndMounts() throws {
        let s = try stages(
            "FROM a\nRUN --mount=type=cache,target=/c,sharing=locked --mount=type=secret,id=tok --network=none --security=insecure make\n")
        guard case .run(let run) = s.stages[0].instructions[0].kind else { Issue.record("not run"); return }
        #expect(run.network == "none" && run.security == "insecure")
        #expect(run.mounts.count == 2)
        #expect(run.command == CommandLine(arguments: ["make"], prependShell: true, files: []))
        let expanded = try RunMount.parse("type=cache,target=/c,sharing=locked,mode=0700,uid=1000", expand: { $0 })
        #expect(expanded.type == .cache && expanded.target == "/c" && expanded.sharing == .locked)
        #expect(expanded.mode == 0o700 && expanded.uid == 1000 && expanded.readOnly == false)
        #expect(try RunMount.parse("type=tmpfs,target=/t,size=64m", expand: { $0 }).sizeLimit == 64 * 1024 * 1024)
        #expect(try RunMount.parse("target=/b", expand: { $0 }).readOnly == true)
        #expect(throws: InstructionError.self) { try RunMount.parse("type=bind,mode=0700,target=/x", expand: { $0 }) }
        #expect(throws: InstructionError.self) { try RunMount.parse("type=volume,target=/x", expand: { $0 }) }
        #expect(throws: InstructionError.self) { try RunMount.parse("type=secret,id=a,source=b", expand: { $0 }) }
        #expect(throws: InstructionError.self) { try RunMount.parse("type=cache,target=/x,bogus=1", expand: { $0 }) }
    }

    @Test func labsSyntaxEnablesRunDevice() throws {
        let s = try stages("# syntax=docker/dockerfile:1-labs\nFROM a\nRUN --device=/dev/fuse x\n")
        guard case .run(let run) = s.stages[0].instructions[0].kind else { Issue.record("not run"); return }
        #expect(run.devices == ["/dev/fuse"])
    }

    @Test func flagsAreIgnoredWhereBuildKitIgnoresThem() throws {
        let s = try stages("ARG --x A=1\nFROM a\nSTOPSIGNAL --y SIGTERM\nHEALTHCHECK --z NONE\n")
        #expect(s.metaArgs.count == 1)
        #expect(s.stages[0].instructions.count == 2)
    }

    @Test func healthcheckValues() throws {
        let s = try stages(
            "FROM a\nHEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f localhost\nHEALTHCHECK CMD [\"x\"]\nHEALTHCHECK none\n"
        )
        let checks: [Healthcheck] = s.stages[0].instructions.compactMap {
            if case .healthcheck(let h) = $0.kind { return h } else { return nil }
        }
        #expect(
            checks[0] == Healthcheck(test: ["CMD-SHELL", "curl -f localhost"], interval: 90_000_000_000, timeout: 500_000_000, retries: 3))
        #expect(checks[1].test == ["CMD", "x"])
        #expect(checks[2].test == ["NONE"])
    }

    @Test func entrypointEmptyBecomesNilAndExposeIsSorted() throws {
        let s = try stages("FROM a\nENTRYPOINT\nENTRYPOINT []\nEXPOSE 8080 443 80/udp\nONBUILD RUN <<EOF\nx\nEOF\n")
        let kinds = s.stages[0].instructions.map(\.kind)
        #expect(kinds[0] == .entrypoint(nil))
        #expect(kinds[1] == .entrypoint(nil))
        #expect(kinds[2] == .expose(["443", "80/udp", "8080"]))  // Go sorts bytes: "/" < "8"
        guard case .onbuild(let expression, _) = kinds[3] else { Issue.record("not onbuild"); return }
        #expect(expression == "RUN <<EOF\nx\nEOF")
    }

    @Test func envKeepsLegacyFormAndArgDocComments() throws {
        let s = try stages("# VERSION the release to build\nARG VERSION=1.0 OTHER\nFROM a\nENV A=1 B=\"2\"\nENV LEGACY value with spaces\n")
        guard case .arg(let args) = s.metaArgs[0].kind else { Issue.record("not arg"); return }
        #expect(
            args == [
                ArgDefinition(key: "VERSION", defaultValue: "1.0", documentation: "the release to build"),
                ArgDefinition(key: "OTHER", defaultValue: nil, documentation: nil)
            ])
        #expect(
            s.stages[0].instructions[0].kind
                == .env([KeyValue(key: "A", value: "1", legacyForm: false), KeyValue(key: "B", value: "\"2\"", legacyForm: false)]))
        #expect(s.stages[0].instructions[1].kind == .env([KeyValue(key: "LEGACY", value: "value with spaces", legacyForm: true)]))
    }

    @Test func valueParsersFollowGo() {
        #expect(GoValues.duration("1h2m3.5s") == 3_723_500_000_000)
        #expect(GoValues.duration("0") == 0)
        #expect(GoValues.duration("10") == nil)
        #expect(GoValues.duration("") == nil)
        #expect(GoValues.duration("1.s") == 1_000_000_000)
        #expect(GoValues.ramInBytes("1.5g") == 1_610_612_736)
        #expect(GoValues.ramInBytes("512KiB") == 524_288)
        #expect(GoValues.ramInBytes("12x") == nil)
        #expect(Suggest.closest(to: "chownn", in: ["chown", "chmod", "from"], caseSensitive: true) == "chown")
        #expect(Suggest.closest(to: "zzzzzz", in: ["chown"], caseSensitive: true) == nil)
    }
}
