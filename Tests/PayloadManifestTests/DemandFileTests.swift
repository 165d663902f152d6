// A demand.json is read through a Codable type: its properties are strings, and one of another
// type is an error naming it; a JSON file without the payload property is a manifest.
import Foundation
import PayloadManifest
import Testing
import TestSupport

@Suite struct DemandFiles {
    @Test func aDemandsPropertiesAreReadAndAMistypedOneIsNamed() throws {
        let scratch = Scratch()
        let manifest = #"{"version":"0.1.0"}"#
        let payload = Data(manifest.utf8).base64EncodedString()
        let file = scratch.sub("demand.json")
        try Data(#"{"golem.srv.comp.payload":"\#(payload)","golem.srv.comp.payload.sig.algorithm":"sha256","other":1}"#.utf8)
            .write(to: URL(fileURLWithPath: file))
        let bundle = try ManifestBundle.load(path: file)
        #expect(
            bundle.manifest == Array(manifest.utf8) && bundle.payload == payload && bundle.algorithm == "sha256" && bundle.signature == nil)

        try Data(#"{"golem.srv.comp.payload":"\#(payload)","golem.srv.comp.payload.sig":42}"#.utf8).write(to: URL(fileURLWithPath: file))
        #expect {
            _ = try ManifestBundle.load(path: file)
        } throws: { error in
            "\(error)".contains("golem.srv.comp.payload.sig is not a string")
        }

        let plain = scratch.sub("manifest.json")
        try Data(manifest.utf8).write(to: URL(fileURLWithPath: plain))
        #expect(try ManifestBundle.load(path: plain).manifest == Array(manifest.utf8), "no payload property: the file is the manifest")
    }
}
