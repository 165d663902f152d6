// `gvmc inspect`: validate a .gvmi as Golem's runtime reads it and show what is inside.
import ArgumentParser
import DockerfileSyntax
import Foundation
import GVMI
import SquashFS

struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect", abstract: "Check a .gvmi image and print its metadata, sizes and hashes.")

    @Argument(help: "The .gvmi file.")
    var file: String

    @Flag(help: "Print a JSON report.")
    var json = false

    @Flag(help: "List every entry of the root filesystem (like unsquashfs -lls).")
    var list = false

    func run() throws {
        let report: GVMIReport
        let entries: [ImageEntry]
        do {
            report = try GVMIInspector.inspect(path: file)
            entries = try SquashFSReader(path: file).entries()
        } catch {
            printError("error: \(file): \(error)")
            throw ExitCode(1)
        }
        let sb = report.superblock
        let files = entries.filter { $0.kind == .file }.count
        if json {
            var o: [String] = []
            o.append("\"path\":\(SyntaxJSON.quote(report.path))")
            o.append("\"size\":\(report.size)")
            o.append("\"sha3_224\":\"\(report.sha3_224)\"")
            o.append("\"sha256\":\"\(report.sha256)\"")
            o.append("\"compression\":\"\(sb.compression.rawValue)\"")
            o.append("\"block_size\":\(sb.blockSize)")
            o.append("\"squashfs_bytes\":\(sb.bytesUsed)")
            o.append("\"inodes\":\(sb.inodes)")
            o.append("\"files\":\(files)")
            o.append("\"entries\":\(entries.count)")
            o.append("\"config\":" + String(decoding: report.configJSON, as: UTF8.self))
            print("{" + o.joined(separator: ",") + "}")
        } else {
            print("\(report.path)")
            print("  size        \(report.size) bytes (squashfs \(sb.bytesUsed), metadata trailer at \(report.trailerOffset))")
            print("  sha3-224    \(report.sha3_224)")
            print("  sha256      \(report.sha256)")
            print(
                "  squashfs    4.0, \(sb.compression.rawValue), block \(sb.blockSize), \(sb.inodes) inodes, \(files) files, \(sb.fragments) fragments"
            )
            if !sb.compression.readableByGolem { print("  warning     zstd images cannot be mounted by Golem providers") }
            print("  config      \(String(decoding: report.configJSON, as: UTF8.self))")
        }
        if list {
            for e in entries { print(listLine(e)) }
        }
    }
}

/// One line in the style of `unsquashfs -lls`.
func listLine(_ e: ImageEntry) -> String {
    let typeChar: Character
    switch e.kind {
    case .directory: typeChar = "d";
    case .file: typeChar = "-";
    case .symlink: typeChar = "l"
    case .blockDevice: typeChar = "b";
    case .characterDevice: typeChar = "c";
    case .fifo: typeChar = "p";
    case .socket: typeChar = "s"
    }
    let p = Int(e.permissions)
    func bits(_ shift: Int, _ special: Int, _ specialChar: Character) -> String {
        let r = p >> shift & 4 != 0 ? "r" : "-"
        let w = p >> shift & 2 != 0 ? "w" : "-"
        let x = p >> shift & 1 != 0
        let s = p & special != 0
        let xc: String = s ? (x ? String(specialChar) : String(specialChar).uppercased()) : (x ? "x" : "-")
        return r + w + xc
    }
    let mode = String(typeChar) + bits(6, 0o4000, "s") + bits(3, 0o2000, "s") + bits(0, 0o1000, "t")
    let size = e.device.map { "\($0.major),\($0.minor)" } ?? String(e.size)
    let target = e.rawSymlinkTarget.map { " -> " + escapedName($0) } ?? ""
    return "\(mode) \(e.uid)/\(e.gid) \(size) \(e.mtime) \(escapedName(e.rawPath))\(target)"
}
