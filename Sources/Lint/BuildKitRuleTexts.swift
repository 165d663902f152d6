// BuildKit's build checks (frontend/dockerfile/linter), names and descriptions as BuildKit has them.

extension RuleCatalog {
    static func buildKitRule(
        _ name: String, _ summary: String, _ example: String, _ fix: String,
        experimental: Bool = false, url: Bool = true
    ) -> Rule {
        let slug = name.reduce(into: "") { out, c in
            if c.isUppercase && !out.isEmpty { out += "-" }
            out += c.lowercased()
        }
        return Rule(
            id: name, severity: .warning, summary: summary,
            rationale: "BuildKit build check \(name): \(summary).", example: example, fix: fix,
            url: url ? "https://docs.docker.com/go/dockerfile/rule/\(slug)/" : nil, experimental: experimental)
    }

    static let buildKit: [Rule] = [
        buildKitRule("StageNameCasing", "Stage names should be lowercase", "FROM alpine AS Builder\n", "Use a lowercase stage name."),
        buildKitRule(
            "FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword", "FROM alpine as builder\n",
            "Write `FROM x AS y` or `from x as y`."),
        buildKitRule(
            "NoEmptyContinuation", "Empty continuation lines will become errors in a future release", "FROM alpine\nRUN echo a \\\n\n  b\n",
            "Remove the blank line inside the continuation."),
        buildKitRule(
            "ConsistentInstructionCasing", "All commands within the Dockerfile should use the same casing (either upper or lower)",
            "FROM alpine\nrun echo hi\n", "Use one casing for all instructions."),
        buildKitRule(
            "DuplicateStageName", "Stage names should be unique", "FROM alpine AS a\nFROM alpine AS a\n", "Rename one of the stages."),
        buildKitRule(
            "ReservedStageName", "Reserved words should not be used as stage names", "FROM alpine AS scratch\n",
            "Do not name a stage `scratch` or `context`."),
        buildKitRule(
            "JSONArgsRecommended", "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
            "FROM alpine\nCMD echo hi\n", "Use the exec form: `CMD [\"echo\", \"hi\"]`."),
        buildKitRule(
            "MaintainerDeprecated", "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
            "FROM alpine\nMAINTAINER me\n", "Use `LABEL org.opencontainers.image.authors=...`."),
        buildKitRule(
            "UndefinedArgInFrom", "FROM command must use declared ARGs", "FROM alpine:$VERSION\n", "Declare the ARG before the first FROM."),
        buildKitRule(
            "WorkdirRelativePath",
            "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
            "FROM alpine\nWORKDIR app\n", "Use an absolute WORKDIR first."),
        buildKitRule(
            "UndefinedVar", "Variables should be defined before their use", "FROM scratch\nCOPY $SRC /\n",
            "Declare the variable with ARG or ENV before using it."),
        buildKitRule(
            "MultipleInstructionsDisallowed", "Multiple instructions of the same type should not be used in the same stage",
            "FROM alpine\nCMD [\"a\"]\nCMD [\"b\"]\n", "Keep only the last CMD/ENTRYPOINT/HEALTHCHECK."),
        buildKitRule(
            "LegacyKeyValueFormat", "Legacy key/value format with whitespace separator should not be used", "FROM alpine\nENV KEY value\n",
            "Write `ENV KEY=value`."),
        buildKitRule(
            "InvalidBaseImagePlatform", "Base image platform does not match expected target platform",
            "FROM --platform=linux/arm64 alpine (pulled for amd64)\n", "Use an image published for the target platform.", url: false),
        buildKitRule(
            "RedundantTargetPlatform",
            "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
            "FROM --platform=$TARGETPLATFORM alpine\n", "Drop the --platform flag."),
        buildKitRule(
            "SecretsUsedInArgOrEnv", "Sensitive data should not be used in the ARG or ENV commands", "FROM alpine\nARG GITHUB_TOKEN\n",
            "Use secret mounts (`RUN --mount=type=secret`)."),
        buildKitRule(
            "InvalidDefaultArgInFrom", "Default value for global ARG results in an empty or invalid base image name",
            "ARG TAG\nFROM alpine:$TAG\n", "Give the ARG a valid default."),
        buildKitRule(
            "FromPlatformFlagConstDisallowed", "FROM --platform flag should not use a constant value",
            "FROM --platform=linux/amd64 alpine AS build\n", "Use $BUILDPLATFORM or $TARGETPLATFORM, or name the stage after the platform."),
        buildKitRule(
            "CopyIgnoredFile", "Attempting to Copy file that is excluded by .dockerignore",
            "# .dockerignore: *.md\nFROM alpine\nCOPY README.md /\n", "Remove the file from .dockerignore or stop copying it."),
        buildKitRule(
            "InvalidDefinitionDescription",
            "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
            "# the version\nARG VERSION=1\n", "Start the comment with the name: `# VERSION the version`.", experimental: true),
        buildKitRule(
            "ExposeProtoCasing", "Protocol in EXPOSE instruction should be lowercase", "FROM nginx\nEXPOSE 80/TCP\n",
            "Write the protocol in lowercase."),
        buildKitRule(
            "ExposeInvalidFormat",
            "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
            "FROM nginx\nEXPOSE 127.0.0.1:80:80\n", "EXPOSE only the container port.")
    ]
}
