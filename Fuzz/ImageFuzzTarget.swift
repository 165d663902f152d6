// libFuzzer entry point for reading untrusted images (`gvmc inspect`, `inspect --list`, `lint
// --image`): the squashfs reader and the .gvmi trailer (built by scripts/fuzz.sh).
// Property: any file lists or fails with a positioned corruption error; nothing traps, hangs or
// allocates without bound (libFuzzer's -rss_limit_mb and -timeout catch the last two).
import GVMI
import SquashFS

private let input = InputFile("image")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    input.write(data, size)
    let imagePath = input.path
    do {
        let entries = try SquashFSReader(path: imagePath).entries()
        precondition(entries.first?.path == "/", "the first entry is not the root")
        precondition(entries.allSatisfy { $0.rawPath.count <= 4096 && !$0.rawPath.isEmpty }, "a path over PATH_MAX")
    } catch {
        guard case .corrupt(let offset, let reason) = error else { preconditionFailure("not a corruption error: \(error)") }
        precondition(offset >= 0 && !reason.isEmpty, "an error without a place: \(error)")
    }
    do {
        _ = try GVMIInspector.inspect(path: imagePath)
    } catch let error as GVMIError {
        precondition(!error.description.isEmpty)
    } catch let error as SquashFSError {
        guard case .corrupt = error else { preconditionFailure("not a corruption error: \(error)") }
    } catch {
        preconditionFailure("unexpected error type: \(error)")
    }
    return 0
}
