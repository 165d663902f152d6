// One Dockerfile per rule that triggers it (the lines asserted exactly) and one near miss that
// must not.
import BuildPlan
import ImageSpec
import Lint
import SquashFS
import Testing

struct RuleCase: CustomTestStringConvertible, Sendable {
    var rule: String
    var triggers: String
    var lines: [Int]
    var nearMiss: String
    var options: [String] = []
    var testDescription: String { rule }
}

private let cases: [RuleCase] = [
    .init(
        rule: "GVM001", triggers: "FROM alpine\nVOLUME /golem/output\nCMD [\"/bin/sh\"]\nENTRYPOINT [\"/bin/x\"]\n", lines: [3, 4],
        nearMiss: "FROM alpine AS build\nCMD [\"/bin/sh\"]\nFROM alpine\nVOLUME /golem/output\nHEALTHCHECK CMD [\"/bin/true\"]\n"),
    .init(
        rule: "GVM002", triggers: "FROM alpine\nVOLUME /golem/output\nCMD [\"/bin/a\"]\nENTRYPOINT [\"python3\", \"-m\", \"x\"]\n",
        lines: [4],
        nearMiss: "FROM alpine\nVOLUME /golem/output\nENTRYPOINT [\"/usr/bin/python3\"]\nCMD [\"app.py\"]\n"),
    .init(
        rule: "GVM003", triggers: "FROM alpine AS a\nVOLUME /x\nFROM alpine\nRUN true\n", lines: [3],
        nearMiss: "FROM alpine\nVOLUME [\"/golem/output\"]\n"),
    .init(
        rule: "GVM004", triggers: "FROM alpine\nVOLUME /golem/output\nWORKDIR /app\nWORKDIR /srv\n", lines: [4],
        nearMiss: "FROM alpine\nWORKDIR /app\nVOLUME /golem/work\nWORKDIR /golem/work/sub\n"),
    .init(
        rule: "GVM005", triggers: "FROM alpine\nWORKDIR /golem\nCOPY a.txt input/a.txt\nVOLUME /golem/input\nADD b.tar /golem/input/\n",
        lines: [3, 5],
        nearMiss: "FROM alpine\nVOLUME /golem/input\nCOPY a.txt /golem/inputs/a.txt\n"),
    .init(
        rule: "GVM006", triggers: "FROM alpine\nVOLUME /usr /data\nVOLUME /proc/x\nVOLUME /\n", lines: [2, 3, 4],
        nearMiss: "FROM alpine\nVOLUME /usr/src/app /golem/output\n"),
    .init(
        rule: "GVM007", triggers: "FROM alpine\nVOLUME /root\nVOLUME /opt /golem/out\n", lines: [2, 3],
        nearMiss: "FROM alpine\nVOLUME /opt/data /root/work\n"),
    .init(
        rule: "GVM008", triggers: "FROM alpine\nVOLUME /o\nUSER 0:0\nUSER app\n", lines: [4],
        nearMiss: "FROM alpine\nUSER app\nVOLUME /o\nUSER 1000:1000\n"),
    .init(
        rule: "GVM009", triggers: "FROM alpine\nVOLUME /o\nCOPY x /tmp/x\nWORKDIR /dev/shm\n", lines: [3, 4],
        nearMiss: "FROM alpine\nVOLUME /o\nCOPY x /tmpfiles/x\nWORKDIR /developer\n"),
    .init(
        rule: "GVM010", triggers: "FROM alpine AS b\nFROM --platform=linux/arm64 alpine\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM --platform=linux/arm64 alpine AS b\nFROM --platform=$TARGETPLATFORM alpine\nVOLUME /o\n"),
    .init(
        rule: "GVM011", triggers: "FROM alpine\nVOLUME /o\nEXPOSE 80\nHEALTHCHECK NONE\nSTOPSIGNAL SIGTERM\nONBUILD RUN x\n",
        lines: [3, 4, 5, 6],
        nearMiss: "FROM alpine AS b\nEXPOSE 80\nFROM alpine\nVOLUME /o\n"),
    .init(
        rule: "GVM012", triggers: "FROM alpine\nVOLUME /o\nENV DB_PASSWORD=x\nLABEL api.key=y\nARG AUTH_TOKEN=z\n", lines: [3, 4, 5],
        nearMiss: "ARG SECRET_TOKEN=global\nFROM alpine\nVOLUME /o\nARG MY_TOKEN\nENV PASSAGE=1 KEYBOARD=us\n"),
    .init(
        rule: "GVM013", triggers: "FROM alpine\nVOLUME /o\nCOPY .env /app/\nCOPY certs/server.pem keys/id_rsa /app/\n", lines: [3, 4, 4],
        nearMiss: "FROM alpine\nVOLUME /o\nCOPY env.sample keys.txt /app/\n"),
    .init(
        rule: "GVM014", triggers: "FROM alpine\nVOLUME /o\nENV A=1\nENV B=2 C=3\n", lines: [3, 4],
        nearMiss: "FROM alpine AS b\nENV A=1\nFROM alpine\nVOLUME /o\nARG A=1\n"),
    .init(
        rule: "GVM015", triggers: "FROM alpine\nVOLUME data\nVOLUME /a//b /c/ /d/./e\n", lines: [2, 3, 3, 3],
        nearMiss: "FROM alpine\nVOLUME /golem/output\nVOLUME [\"/golem/input\"]\n"),
    .init(
        rule: "GVM016", triggers: "FROM alpine AS b\nFROM scratch\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM scratch AS b\nFROM busybox\nVOLUME /o\n"),
    .init(
        rule: "GVM017", triggers: "FROM alpine\nVOLUME /golem\nVOLUME /golem/output\n", lines: [3],
        nearMiss: "FROM alpine\nVOLUME /golem/input /golem/output /golem-x\n"),
    .init(
        rule: "GVM019", triggers: "FROM postgres\nVOLUME /var/lib/postgresql/data\n", lines: [2],
        nearMiss: "FROM alpine\nVOLUME /var/lib/postgresql-backups\n"),
    // BuildKit's checks.
    .init(
        rule: "StageNameCasing", triggers: "FROM a AS Build\nFROM b AS x\nVOLUME /o\n", lines: [1],
        nearMiss: "FROM a AS build\nVOLUME /o\n"),
    .init(
        rule: "FromAsCasing", triggers: "FROM a as b\nfrom c AS d\nVOLUME /o\n", lines: [1, 2],
        nearMiss: "FROM a AS b\nfrom c as d\nFrom e as f\nVOLUME /o\n"),
    .init(
        rule: "NoEmptyContinuation", triggers: "FROM a\nRUN echo \\\n\n  b\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM a\nRUN echo \\\n# comment\n  b\nVOLUME /o\n"),
    .init(
        rule: "ConsistentInstructionCasing", triggers: "FROM a\nRUN x\nrun y\nVOLUME /o\n", lines: [3],
        nearMiss: "from a\nrun x\nvolume /o\n"),
    .init(
        rule: "DuplicateStageName", triggers: "FROM a AS x\nFROM b AS x\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM a AS x\nFROM b AS y\nVOLUME /o\n"),
    .init(
        rule: "ReservedStageName", triggers: "FROM a AS scratch\nFROM b AS context\nVOLUME /o\n", lines: [1, 2],
        nearMiss: "FROM a AS scratchpad\nVOLUME /o\n"),
    .init(
        rule: "JSONArgsRecommended", triggers: "FROM a\nVOLUME /o\nCMD echo hi\nENTRYPOINT run\n", lines: [3, 4],
        nearMiss: "FROM a\nVOLUME /o\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\n"),
    .init(
        rule: "MaintainerDeprecated", triggers: "FROM a\nMAINTAINER me\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM a\nLABEL maintainer=me\nVOLUME /o\n"),
    .init(
        rule: "UndefinedArgInFrom", triggers: "ARG VERSION=1\nFROM alpine:$VERSON\nVOLUME /o\n", lines: [2],
        nearMiss: "ARG VERSION\nFROM alpine:${VERSION:-3} AS a\nFROM --platform=$BUILDPLATFORM alpine:$VERSION\nVOLUME /o\n"),
    .init(
        rule: "WorkdirRelativePath", triggers: "FROM a\nWORKDIR app\nWORKDIR sub\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM a\nWORKDIR /app\nWORKDIR sub\nVOLUME /o\n"),
    .init(
        rule: "UndefinedVar", triggers: "FROM scratch\nARG A\nCOPY $A $B /dst/\nVOLUME /o\nWORKDIR /$HOM\n", lines: [3, 5],
        nearMiss: "FROM scratch AS s\nENV HOME=/root\nFROM s\nARG B\nCOPY x $HOME/$B\nVOLUME /o\n"),
    .init(
        rule: "MultipleInstructionsDisallowed",
        triggers: "FROM a\nVOLUME /o\nCMD [\"/a\"]\nCMD [\"/b\"]\nHEALTHCHECK NONE\nHEALTHCHECK NONE\n", lines: [3, 5],
        nearMiss: "FROM a AS b\nCMD [\"/a\"]\nFROM a\nVOLUME /o\nCMD [\"/b\"]\n"),
    .init(
        rule: "LegacyKeyValueFormat", triggers: "FROM a\nENV A b\nLABEL l v\nVOLUME /o\n", lines: [2, 3],
        nearMiss: "FROM a\nENV A=b\nLABEL l=\"v w\"\nVOLUME /o\n"),
    .init(
        rule: "RedundantTargetPlatform", triggers: "FROM --platform=$TARGETPLATFORM a\nVOLUME /o\n", lines: [1],
        nearMiss: "FROM --platform=$BUILDPLATFORM a\nVOLUME /o\n"),
    .init(
        rule: "SecretsUsedInArgOrEnv", triggers: "FROM a\nARG GITHUB_TOKEN\nENV DB_PASSWORD=x\nVOLUME /o\n", lines: [2, 3],
        nearMiss: "FROM a\nARG PUBLIC_KEY\nENV KEY_FILE=/k TOKENIZER=x\nVOLUME /o\n"),
    .init(
        rule: "InvalidDefaultArgInFrom", triggers: "ARG TAG\nFROM alpine:$TAG\nVOLUME /o\n", lines: [2],
        nearMiss: "ARG TAG=3.19\nFROM alpine:$TAG\nVOLUME /o\n"),
    .init(
        rule: "FromPlatformFlagConstDisallowed", triggers: "FROM --platform=linux/amd64 a AS build\nVOLUME /o\n", lines: [1],
        nearMiss: "FROM --platform=linux/amd64 a AS build-amd64\nVOLUME /o\n"),
    .init(
        rule: "ExposeProtoCasing", triggers: "FROM a\nEXPOSE 80/TCP 53/udp\nVOLUME /o\n", lines: [2],
        nearMiss: "FROM a\nEXPOSE 80/tcp 53\nVOLUME /o\n"),
    .init(
        rule: "ExposeInvalidFormat", triggers: "FROM a\nEXPOSE 127.0.0.1:80:80 8080:80\nVOLUME /o\n", lines: [2, 2],
        nearMiss: "FROM a\nEXPOSE 8000-8010/tcp\nVOLUME /o\n"),
    .init(
        rule: "InvalidDefinitionDescription", triggers: "# the version\nARG VERSION=1\n# the build stage\nFROM a AS build\nVOLUME /o\n",
        lines: [2, 4],
        nearMiss: "# VERSION the version\nARG VERSION=1\n# unrelated\n#\nFROM a AS build\nVOLUME /o\n", options: ["experimental"]),
    .init(rule: "syntax", triggers: "FROM a\nENV ONLYKEY\n", lines: [2], nearMiss: "FROM a\nENV K=V\nVOLUME /o\n")
]

@Suite struct LintRules {
    func lint(_ text: String, _ options: [String]) -> [Finding] {
        var o = LintOptions()
        if options.contains("experimental") { o.experimental = ["InvalidDefinitionDescription"] }
        return DockerfileLinter.lint(bytes: Array(text.utf8), path: "Dockerfile", options: o)
    }

    @Test(arguments: cases)
    func triggersOnExactlyTheseLines(_ c: RuleCase) {
        let found = lint(c.triggers, c.options).filter { $0.rule == c.rule }
        #expect(found.map(\.line) == c.lines, "\(c.rule): \(found.map { "\($0.line): \($0.message)" })")
        #expect(found.allSatisfy { $0.severity == RuleCatalog.rule(c.rule).severity })
    }

    @Test(arguments: cases)
    func nearMissDoesNotTrigger(_ c: RuleCase) {
        let found = lint(c.nearMiss, c.options).filter { $0.rule == c.rule }
        #expect(found.isEmpty, "\(c.rule): \(found.map { "\($0.line): \($0.message)" })")
    }

    @Test func everyStaticRuleHasACase() {
        let covered = Set(cases.map(\.rule))
        let needed = RuleCatalog.all.filter { !$0.needsImage && $0.id != "InvalidBaseImagePlatform" && $0.id != "CopyIgnoredFile" }.map(
            \.id)
        #expect(Set(needed).subtracting(covered).isEmpty, "\(Set(needed).subtracting(covered).sorted())")
    }

    @Test func copyIgnoredFileUsesDockerignore() {
        var o = LintOptions()
        o.dockerIgnore = DockerIgnore(text: "# comment\n*.md\n!KEEP.md\nsecrets/\n**/*.log\n")
        let text = "FROM a\nCOPY README.md /\nCOPY KEEP.md /\nCOPY secrets/key /\nCOPY logs/x/y.log /\nCOPY src/ /\nVOLUME /o\n"
        let found = DockerfileLinter.lint(bytes: Array(text.utf8), path: "Dockerfile", options: o).filter { $0.rule == "CopyIgnoredFile" }
        #expect(found.map(\.line) == [2, 4, 5])
        #expect(found.first?.message == "Attempting to Copy file \"README.md\" that is excluded by .dockerignore")
    }

    @Test func suppressionsAndDirectives() {
        let text = """
            # check=skip=JSONArgsRecommended
            FROM a
            # gvmc ignore=GVM014,GVM012
            ENV TOKEN=x
            # check=skip=MaintainerDeprecated
            MAINTAINER me
            VOLUME /o
            CMD echo
            """
        let rules = Set(lint(text, []).map(\.rule))
        #expect(
            !rules.contains("GVM014") && !rules.contains("GVM012") && !rules.contains("MaintainerDeprecated")
                && !rules.contains("JSONArgsRecommended"))
        #expect(rules.contains("GVM001") && rules.contains("SecretsUsedInArgOrEnv"))
        let errors = DockerfileLinter.lint(bytes: Array("# check=error=true\nFROM a\nMAINTAINER x\nVOLUME /o\n".utf8), path: "D")
        #expect(errors.first { $0.rule == "MaintainerDeprecated" }?.severity == .error)
    }

    @Test func severityOverridesAndIgnores() {
        var o = LintOptions()
        o.severity = ["GVM003": .error, "GVM011": .none]
        o.ignored = ["GVM014"]
        let found = DockerfileLinter.lint(bytes: Array("FROM a\nENV A=1\nEXPOSE 80\n".utf8), path: "D", options: o)
        #expect(found.map(\.rule) == ["GVM003"])
        #expect(found.first?.severity == .error)
    }

    @Test func configFileIsReadAndValidated() throws {
        let config = try LintConfig(
            path: ".gvmc.yaml", text: "ignored: [GVM001]\noverride:\n  error: [GVM003]\n  info: [GVM014]\nfailure-threshold: error\n")
        #expect(config.ignored == ["GVM001"])
        #expect(config.severity == ["GVM003": .error, "GVM014": .info])
        #expect(config.failureThreshold == .error)
        #expect(throws: LintConfigError.self) { try LintConfig(path: "c", text: "ignored: [NOPE1]\n") }
        #expect(throws: LintConfigError.self) { try LintConfig(path: "c", text: "failure-threshold: loud\n") }
        #expect(throws: LintConfigError.self) { try LintConfig(path: "c", text: "colour: red\n") }
        #expect(throws: LintConfigError.self) { try LintConfig(path: "c", text: "ignored: [a\n") }
    }

    @Test func configErrorsKeepTheParsersError() throws {
        let yaml = try #require(throws: LintConfigError.self) { try LintConfig(path: "c", text: "ignored: [a\n") }
        #expect(yaml.cause != nil && yaml.description == "c: not valid YAML: \(yaml.cause!)", "\(yaml)")
        let unknown = try #require(throws: LintConfigError.self) { try LintConfig(path: "c", text: "ignored: [NOPE1]\n") }
        #expect(unknown.cause == nil && unknown.description == "c: unknown rule \"NOPE1\"")
    }

    @Test func imageRulesCheckTheTree() {
        func entry(_ path: String, _ kind: ImageEntry.Kind, target: String? = nil, mode: UInt16 = 0o755) -> ImageEntry {
            ImageEntry(
                path: path, kind: kind, permissions: mode, uid: 0, gid: 0, mtime: 0, size: 0, symlinkTarget: target,
                device: nil, nlink: 1, inodeNumber: 1)
        }
        let bad = [
            entry("/", .directory, mode: 0o700), entry("/etc", .directory), entry("/etc/resolv.conf", .symlink, target: "../run/r"),
            entry("/golem", .symlink, target: "/data"), entry("/data", .directory), entry("/out", .directory), entry("/out/stale", .file)
        ]
        let found = ImageRules.check(
            entries: bad, volumes: ["/golem/output", "/out"], compression: .zstd, imageSize: 2 << 30, file: "x.gvmi")
        let rules = found.map(\.rule)
        // /proc, /sys, hosts, resolv.conf, root mode, symlinked volume
        #expect(rules.filter { $0 == "GVM018" }.count == 6, "\(found.map(\.message))")
        #expect(rules.contains("GVM005") && rules.contains("GVM020") && rules.contains("GVM021"))
        let good = [
            entry("/", .directory), entry("/etc", .directory), entry("/proc", .directory), entry("/sys", .directory),
            entry("/etc/hosts", .file), entry("/etc/resolv.conf", .file), entry("/golem", .directory), entry("/golem/output", .directory)
        ]
        #expect(ImageRules.check(entries: good, volumes: ["/golem/output"], compression: .gzip, imageSize: 1 << 20, file: "y.gvmi").isEmpty)
        // A hostile name in the image reaches the terminal escaped (no forged line, no escape sequence).
        let hostile = good + [entry("/golem/output/x\nerror: forged\u{1b}[2J", .file)]
        let message =
            ImageRules.check(entries: hostile, volumes: ["/golem/output"], compression: .gzip, imageSize: 1 << 20, file: "z.gvmi")
            .first { $0.rule == "GVM005" }?.message ?? ""
        #expect(message.contains("x\\nerror: forged\\033[2J") && !message.contains("\n") && !message.contains("\u{1b}"), "\(message)")
    }

    @Test func parseErrorsAreFindingsWithPosition() {
        let found = lint("FROM a\nRUN [\"x\", 1]\n", [])
        #expect(found.count == 1)
        #expect(found[0].rule == "syntax" && found[0].line == 2 && found[0].column == 5)
    }
}

@Suite struct LintWithBaseImageConfig {
    func lint(_ text: String, _ configJSON: String, image: String = "*") throws -> [Finding] {
        var o = LintOptions()
        o.baseConfigs[image] = try ImageConfiguration(baseConfig: Array(configJSON.utf8), source: "config.json")
        return DockerfileLinter.lint(bytes: Array(text.utf8), path: "Dockerfile", options: o)
    }

    let python =
        #"{"architecture":"amd64","os":"linux","config":{"Env":["PATH=/usr/local/bin:/usr/bin","LANG=C.UTF-8"],"Cmd":["python3"],"User":"app","WorkingDir":"/srv","Volumes":{"/golem/output":{}}}}"#

    @Test func inheritedVolumesCommandsAndUserCount() throws {
        let found = try lint("FROM python:3.11\nCOPY x /golem/output/x\n", python)
        let rules = found.map(\.rule)
        #expect(!rules.contains("GVM003"))
        #expect(found.contains { $0.rule == "GVM005" && $0.line == 2 })
        #expect(found.contains { $0.rule == "GVM002" && $0.line == 1 && $0.message.contains("\"python3\"") })
        #expect(found.contains { $0.rule == "GVM008" && $0.line == 1 && $0.message.contains("\"app\"") })
        // Without the configuration none of that is known.
        let plain = DockerfileLinter.lint(bytes: Array("FROM python:3.11\nCOPY x /golem/output/x\n".utf8), path: "Dockerfile")
        #expect(plain.map(\.rule).contains("GVM003") && !plain.map(\.rule).contains("GVM008"))
    }

    @Test func anEntrypointOrUserInTheStageOverridesTheInheritedOnes() throws {
        let found = try lint("FROM python:3.11\nENTRYPOINT [\"/usr/local/bin/python3\"]\nUSER 1000:1000\n", python)
        #expect(!found.contains { $0.rule == "GVM002" || $0.rule == "GVM008" })
    }

    @Test func foreignPlatformBaseIsReported() throws {
        let arm = #"{"architecture":"arm64","os":"linux","variant":"v8","config":{}}"#
        let found = try lint("FROM alpine\nVOLUME /o\n", arm, image: "alpine")
        #expect(found.contains { $0.rule == "GVM010" && $0.message.contains("linux/arm64/v8") })
        #expect(
            found.contains {
                $0.rule == "InvalidBaseImagePlatform"
                    && $0.message
                        == "Base image alpine was pulled with platform \"linux/arm64/v8\", expected \"linux/amd64\" for current build"
            })
        // A configuration for another image does not apply.
        let other = try lint("FROM alpine\nVOLUME /o\n", arm, image: "debian")
        #expect(!other.contains { $0.rule == "GVM010" })
    }

    @Test func knownEnvironmentEnablesUndefinedVar() throws {
        let found = try lint("FROM python:3.11\nVOLUME /o\nWORKDIR $HOME_DIR/app\nCOPY x $PATH/x\n", python)
        #expect(found.filter { $0.rule == "UndefinedVar" }.map(\.line) == [3])
    }
}
