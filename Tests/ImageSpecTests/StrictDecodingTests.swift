// A field of the wrong type is an error naming the document and the field (never a field
// silently dropped); fields a type does not know are ignored; required ones are required.
import ImageSpec
import Testing

@Suite struct StrictDecoding {
    func error<T: Decodable>(_ type: T.Type, _ json: String, document: String = "config sha256:abc") -> ImageSpecError? {
        do { _ = try JSONDocument.decode(T.self, from: Array(json.utf8), document: document); return nil } catch { return error }
    }

    @Test func aMistypedContainerFieldNamesTheDocumentAndTheField() throws {
        let e = try #require(error(ImageConfiguration.self, #"{"os":"linux","config":{"Env":"PATH=/bin"}}"#))
        #expect(e.document == "config sha256:abc" && e.field == "config.Env")
        #expect(e.problem == .wrongType(expected: "a list", found: "a string"))
        #expect(e.description == "config sha256:abc: config.Env: expected a list, found a string")
    }

    @Test func everyKindOfMistakeIsNamedWhereItIs() throws {
        let cases: [(String, String, String)] = [
            (#"{"config":{"Volumes":["/data"]}}"#, "config.Volumes", "expected an object, found a list"),
            (#"{"config":{"Volumes":{"/data":"yes"}}}"#, "config.Volumes./data", "expected an object, found a string"),
            (#"{"config":{"Labels":{"a":1}}}"#, "config.Labels.a", "expected a string, found a number"),
            (
                #"{"config":{"Healthcheck":{"Test":["CMD","true"],"Interval":"30s"}}}"#, "config.Healthcheck.Interval",
                "expected an integer, found a string"
            ),
            (#"{"config":{"ArgsEscaped":"true"}}"#, "config.ArgsEscaped", "expected true or false, found a string"),
            (#"{"config":{"Cmd":["sh",1]}}"#, "config.Cmd[1]", "expected a string, found a number"),
            (#"{"rootfs":{"type":"layers","diff_ids":"sha256:a"}}"#, "rootfs.diff_ids", "expected a list, found a string"),
            (#"{"rootfs":{"type":"layers"}}"#, "rootfs.diff_ids", "missing (required)"),
            (#"{"history":[{"empty_layer":"no"}]}"#, "history[0].empty_layer", "expected true or false, found a string"),
            (#"{"architecture":64}"#, "architecture", "expected a string, found a number")
        ]
        for (json, field, reason) in cases {
            let e = try #require(error(ImageConfiguration.self, json), "\(json) was accepted")
            #expect(e.field == field, "\(json): \(e)")
            #expect(e.reason == field + ": " + reason, "\(json): \(e)")
        }
    }

    @Test func manifestsAndIndexesAreCheckedTheSameWay() throws {
        let manifest = #"{"schemaVersion":2,"config":{"mediaType":"a","digest":"sha256:c","size":"12"},"layers":[]}"#
        #expect(error(ImageManifest.self, manifest, document: "m")?.description == "m: config.size: expected an integer, found a string")
        let layers = #"{"schemaVersion":2,"config":{"digest":"sha256:c","size":1},"layers":[{"digest":"sha256:l"}]}"#
        #expect(error(ImageManifest.self, layers, document: "m")?.description == "m: layers[0].size: missing (required)")
        let index = #"{"manifests":[{"digest":"sha256:a","size":1,"platform":{"os":"linux"}}]}"#
        #expect(error(ImageIndex.self, index, document: "i")?.description == "i: manifests[0].platform.architecture: missing (required)")
        let annotations = #"{"manifests":[],"annotations":{"a":["b"]}}"#
        #expect(error(ImageIndex.self, annotations, document: "i")?.field == "annotations.a")
    }

    @Test func notJSONAtAllSaysSo() throws {
        let e = try #require(error(ImageManifest.self, "<html>Please log in</html>", document: "registry reply"))
        guard case .notJSON = e.problem else { Issue.record("\(e)"); return }
        #expect(e.description.hasPrefix("registry reply: not JSON"))
        let array = try #require(error(ContainerConfig.self, #"["not a config"]"#, document: "trailer"))
        #expect(array.field == "" && array.reason == "expected an object, found a list", "\(array)")
    }

    @Test func unknownFieldsAreIgnoredAndNullsAreAbsent() throws {
        let json = #"{"config":{"Env":null,"Tty":true,"MacAddress":"x","Cmd":["a"]},"moby.buildkit.buildinfo.v1":"e30=","variant":null}"#
        let config = try JSONDocument.decode(ImageConfiguration.self, from: Array(json.utf8), document: "c")
        #expect(config.config?.env == nil && config.config?.cmd == ["a"] && config.variant == nil)
        #expect(config.config?.trailerJSON() == Array(#"{"Cmd":["a"]}"#.utf8), "fields the trailer does not carry are not kept")
    }

    @Test func aMissingSchemaVersionIsAcceptedAndPresenceTellsKindsApart() throws {
        let bare = #"{"config":{"digest":"sha256:c","size":1},"layers":[]}"#
        guard case .image(let m) = try ManifestDocument(decoding: Array(bare.utf8), declaredType: nil, document: "m") else {
            Issue.record("not taken for an image manifest"); return
        }
        #expect(m.schemaVersion == nil && m.mediaType == nil)
        guard
            case .other = try ManifestDocument(
                decoding: Array(#"{"config":{"digest":"sha256:c","size":1}}"#.utf8), declaredType: nil, document: "m")
        else {
            Issue.record("a manifest without layers is not an image manifest"); return
        }
        guard
            case .index(let i) = try ManifestDocument(
                decoding: Array(#"{"manifests":[],"layers":null}"#.utf8), declaredType: nil, document: "m")
        else {
            Issue.record("manifests and no layers is an index"); return
        }
        #expect(i.manifests.isEmpty)
    }
}

extension StrictDecoding {
    @Test func whatWasFoundIsNamedInJSONTerms() throws {
        let found = [#"{"os":true}"#: "true or false", #"{"os":{}}"#: "an object", #"{"os":[]}"#: "a list", #"{"os":1.5}"#: "a number"]
        for (json, what) in found {
            #expect(error(ImageConfiguration.self, json)?.problem == .wrongType(expected: "a string", found: what), "\(json)")
        }
    }
}
