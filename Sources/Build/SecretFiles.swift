// `--secret` as docker build takes it: id=ID,src=FILE or id=ID,env=VARIABLE.
import Foundation
import Executor
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// `--secret` values: files are used in place; environment values are written to private
/// temporary files (removed at the end, and on Ctrl-C).
public struct SecretFiles {
    public private(set) var paths: [String: String] = [:]
    var temporary: [String] = []

    public init(_ flags: [String]) throws(BuildError) {
        for flag in flags {
            var fields: [String: String] = [:]
            for part in flag.split(separator: ",") {
                let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw .options("--secret \(flag): expected id=ID,src=FILE or id=ID,env=VARIABLE") }
                fields[kv[0]] = kv[1]
            }
            guard let id = fields["id"], !id.isEmpty else { throw .options("--secret \(flag): id= is required") }
            if let src = fields["src"] ?? fields["source"] {
                guard access(src, R_OK) == 0 else { throw .options("--secret \(id): cannot read \(src)") }
                paths[id] = src
            } else {
                let variable = fields["env"] ?? id
                guard let value = ProcessInfo.processInfo.environment[variable] else {
                    throw .options("--secret \(id): environment variable \(variable) is not set")
                }
                var template = Array("/tmp/gvmc-secret-XXXXXX".utf8CString)
                let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
                guard fd >= 0 else { throw .options("--secret \(id): cannot create a temporary file") }
                let path = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
                TemporaryFiles.shared.register(path)
                _ = Array(value.utf8).withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                temporary.append(path)
                paths[id] = path
            }
        }
    }

    public func remove() {
        for p in temporary { unlink(p); TemporaryFiles.shared.unregister(p) }
    }
}
