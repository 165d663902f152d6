// USER and --chown resolution through a root filesystem's passwd and group files.
import Foundation
import Executor
import Testing

@Suite struct UserResolution {
    @Test func namesNumbersAndGroups() throws {
        var template = Array("/tmp/gvmc-users-XXXXXX".utf8CString)
        let root = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        FileManager.default.createFile(
            atPath: root + "/etc/passwd", contents: Data("root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n".utf8))
        FileManager.default.createFile(atPath: root + "/etc/group", contents: Data("root:x:0:\napp:x:1001:\nwheel:x:10:app,root\n".utf8))
        let db = try UserDatabase(rootfs: root)
        let app = try db.resolve("app")
        #expect(app.uid == 1000 && app.gid == 1001 && app.groups == [1001, 10])
        let mixed = try db.resolve("app:wheel")
        #expect(mixed.uid == 1000 && mixed.gid == 10)
        let numeric = try db.resolve("4242")
        #expect(numeric.uid == 4242 && numeric.gid == 4242)
        #expect(try db.resolve("0:10").gid == 10)
        #expect { try db.resolve("nobody") } throws: { "\($0)".contains("unable to find user nobody") }
        #expect { try db.resolve("app:staff") } throws: { "\($0)".contains("unable to find group staff") }
    }
}
