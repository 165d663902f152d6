// What the files a step reads are, for its cache key: COPY sources and RUN bind mounts from the
// context by content, from a stage by the stage's key, from an image by its id.
import BuildCache
import BuildPlan
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

extension ExecutionContext {
    /// What a COPY or bind mount reads: context files by content, a stage by its key, an image
    /// by id; nil when unknown (a stage that is not cached, no image source).
    func sourceIdentity(_ source: CopyStep.Source, paths: [String], parents: Bool) throws(ExecutorError) -> String? {
        switch source {
        case .stage(let i):
            guard let key = stageLayers[i]?.key else { return nil }
            return "stage " + key
        case .image(let ref):
            guard images != nil else { return nil }
            let tree = try imageRoot(ref)
            return "image " + (tree.split(separator: "/").last.map(String.init) ?? tree)
        case .context:
            var h = SHA256()
            for p in paths {
                var pattern = String(normalize("/" + p).dropFirst())
                if parents {
                    // --parents patterns (with `/./` pivots and `**`): the tree they start in.
                    let fixed = pattern.split(separator: "/").prefix { !$0.contains(where: { "*?[\\".contains($0) }) }
                    pattern = fixed.joined(separator: "/")
                }
                let matches = expandWildcards(buildContext.directory, pattern).sorted()
                h.update(Array("source \(p) \(matches.count)".utf8) + [0])
                for m in matches { try digestTree(m, top: true, into: &h) }
            }
            return "context " + h.finalize().hexString
        }
    }

    /// Path, type, mode, size and content of a context entry and everything below it that
    /// `.dockerignore` leaves in (owners and times are not copied by COPY, so not hashed).
    func digestTree(_ relative: String, top: Bool, into h: inout SHA256) throws(ExecutorError) {
        let context = buildContext
        if !relative.isEmpty && context.ignore.excludes(relative)
            && !(isDirectory(context.directory + "/" + relative, follow: top) && context.ignore.mayMatch(below: relative, exceptions: true))
        {
            return
        }
        let path = relative.isEmpty ? context.directory : context.directory + "/" + relative
        var st = stat()
        guard (top ? stat(path, &st) : lstat(path, &st)) == 0 else {
            h.update(Array("missing \(relative)".utf8) + [0])
            return
        }
        let type = st.st_mode & S_IFMT
        h.update(Array("\(relative) \(type) \(st.st_mode & 0o7777) \(type == S_IFREG ? st.st_size : 0)".utf8) + [0])
        switch type {
        case S_IFREG:
            let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
            guard fd >= 0 || top else { throw .errno("open", relative) }
            let file = fd >= 0 ? fd : open(path, O_RDONLY | O_CLOEXEC)
            guard file >= 0 else { throw .errno("open", relative) }
            defer { close(file) }
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
            defer { buffer.deallocate() }
            while true {
                let n = read(file, buffer.baseAddress, buffer.count)
                if n < 0 && errno == EINTR { continue }
                guard n >= 0 else { throw .errno("read", relative) }
                if n == 0 { break }
                h.update(UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            }
        case S_IFLNK:
            var target = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(path, &target, Int(PATH_MAX))
            h.update(target[0..<max(0, n)].map { UInt8(bitPattern: $0) } + [0])
        case S_IFDIR:
            for name in (listDirectory(path) ?? []).sorted() {
                try digestTree(relative.isEmpty ? name : relative + "/" + name, top: false, into: &h)
            }
        default:
            break
        }
    }
}
