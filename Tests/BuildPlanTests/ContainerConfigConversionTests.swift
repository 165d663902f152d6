// The planner's ImageConfig from a base image's ContainerConfig and back to the trailer's: what
// a stage inherits, and what the target writes.
import BuildPlan
import ImageSpec
import Testing

@Suite struct ContainerConfigConversion {
    @Test func aBaseConfigurationComesBackAsTheTrailersWithEmptyValuesLeftOut() throws {
        var base = ContainerConfig()
        base.env = ["PATH=/bin", "EMPTY", "A=1=2"]
        base.user = ""
        base.workingDir = ""
        base.volumes = ["/data"]
        base.labels = [:]
        base.healthcheck = HealthConfig(test: ["CMD", "true"], interval: 0, timeout: 5, retries: 0)
        base.onBuild = []
        let config = ImageConfig(base)
        #expect(config.envValue("EMPTY") == "" && config.envValue("A") == "1=2")
        #expect(config.user == nil && config.workingDir == nil)
        #expect(config.healthcheck == HealthConfig(test: ["CMD", "true"], timeout: 5), "Docker's 0 is its default: absent")

        let trailer = config.containerConfig(user: "1000:1000")
        #expect(trailer.env == ["PATH=/bin", "EMPTY=", "A=1=2"])
        #expect(trailer.user == "1000:1000" && trailer.workingDir == nil && trailer.labels == nil && trailer.onBuild == nil)
        #expect(trailer.volumes == ["/data"] && trailer.healthcheck == HealthConfig(test: ["CMD", "true"], timeout: 5))
        #expect(ImageConfig(trailer) == config.withUser("1000:1000"))
    }

    @Test func aHealthcheckInstructionKeepsOnlyWhatItSets() throws {
        let p = try plan("FROM scratch\nHEALTHCHECK --interval=5s --retries=3 CMD true\n")
        let h = try #require(p.targetStage.config.containerConfig(user: nil).healthcheck)
        #expect(h == HealthConfig(test: ["CMD-SHELL", "true"], interval: 5_000_000_000, retries: 3))
    }
}

extension ImageConfig {
    func withUser(_ user: String) -> ImageConfig {
        var c = self
        c.user = user
        return c
    }
}
