// The documents lint reads besides Dockerfiles: `.gvmc.yaml` (through a Codable type: every
// problem named) and a base image's configuration (ImageSpec's, in the three forms
// `--base-config` takes; a mistyped field is an error, not an unknown base).
import ImageSpec
import Lint
import Testing

@Suite struct ConfigDocuments {
    func message(_ text: String) -> String {
        do { _ = try LintConfig(path: "c.yaml", text: text); return "" } catch { return error.description }
    }

    @Test func eachProblemOfAConfigFileIsNamed() {
        #expect(message("ignored: {GVM001: yes}\n") == "c.yaml: ignored must be a list of rule ids")
        #expect(message("override: [GVM001]\n") == "c.yaml: override must map error/warning/info/none to rule lists")
        #expect(message("override:\n  loud: [GVM001]\n") == "c.yaml: override.loud: unknown severity (error, warning, info, none)")
        #expect(message("override:\n  error: {a: b}\n") == "c.yaml: override.error must be a list of rule ids")
        #expect(message("failure-threshold: [error]\n") == "c.yaml: failure-threshold must be error, warning, info or none")
        #expect(message("colour: red\n") == "c.yaml: unknown key \"colour\" (known: ignored, override, failure-threshold, experimental)")
        #expect(message("- GVM001\n") == "c.yaml: the top level must be a mapping")
        #expect(message("ignored: [NOPE1]\n") == "c.yaml: unknown rule \"NOPE1\"")
        #expect(message("ignored: [a\n").hasPrefix("c.yaml: not valid YAML: "))
    }

    @Test func aConfigFileTakesOneIdOrAListAndTheOtherSpellings() throws {
        let c = try LintConfig(
            path: "c",
            text:
                "ignore: GVM001\nignored: [GVM014]\noverride:\n  style: GVM003\nfailure_threshold: none\nexperimental: [InvalidDefinitionDescription]\n"
        )
        #expect(c.ignored == ["GVM001", "GVM014"] && c.severity == ["GVM003": .info] && c.failureThreshold == Severity.none)
        #expect(c.experimental == ["InvalidDefinitionDescription"])
        #expect(try LintConfig(path: "c", text: "# nothing yet\n").ignored.isEmpty)
    }

    @Test func aBaseConfigurationIsReadInEachForm() throws {
        let oci = try ImageConfiguration(
            baseConfig: Array(#"{"os":"linux","architecture":"arm64","variant":"","config":{"User":"app"}}"#.utf8), source: "a")
        #expect(oci.config?.user == "app" && oci.platform?.architecture == "arm64")
        let inspect = try ImageConfiguration(
            baseConfig: Array(#"{"Id":"sha256:x","Config":{"WorkingDir":"/srv"},"Os":"linux"}"#.utf8), source: "b")
        #expect(inspect.config?.workingDir == "/srv")
        let bare = try ImageConfiguration(baseConfig: Array(#"{"Env":["A=1"],"Volumes":{"/o":{}}}"#.utf8), source: "c")
        #expect(bare.config?.env == ["A=1"] && bare.config?.volumes == ["/o"])
    }

    @Test func aMistypedBaseConfigurationFieldIsAnErrorNamingIt() {
        #expect {
            _ = try ImageConfiguration(baseConfig: Array(#"{"config":{"Volumes":["/o"]}}"#.utf8), source: "base.json")
        } throws: { error in
            "\(error)" == "base.json: config.Volumes: expected an object, found a list"
        }
    }
}
