// COPY, and ADD of local files: from the build context (`.dockerignore` and --exclude applied),
// another stage or an image; --chown, --chmod, --parents, wildcards, heredoc files, and local tar
// archives unpacked by ADD. Keyed on the operands and on what the sources hold.
import BuildCache
import BuildPlan
import SquashFS
#if canImport(Glibc)
import Glibc
#endif

/// COPY, or ADD of files that are neither URLs nor git repositories.
struct CopyOperation: FileOperation {
    let copy: CopyStep
    var users: String?

    init(copy: CopyStep) { self.copy = copy }

    func cacheKey(after previous: String, in context: ExecutionContext) throws(ExecutorError) -> String? {
        var h = StepKeyHash(after: previous)
        h.add(copy.keyMaterial)
        guard let identity = try context.sourceIdentity(copy.source, paths: copy.paths, parents: copy.parents) else { return nil }
        h.add(identity)
        return h.finalize()
    }

    func execute(in root: String, context: ExecutionContext) throws(ExecutorError) {
        let c = copy, ignore = context.buildContext.ignore
        let sourceRoot: String
        switch c.source {
        case .context: sourceRoot = context.buildContext.directory
        case .stage(let i): sourceRoot = context.stageRoots[i]!
        case .image(let ref): sourceRoot = try context.imageRoot(ref)
        }
        let owner = try chownOwnership(in: root) ?? Ownership(uid: 0, gid: 0)
        let mode = try c.chmod.map { m throws(ExecutorError) in try ModeChange(m) }
        if c.parents {
            try copyWithParents(from: sourceRoot, into: root, owner: owner, mode: mode, ignore: ignore)
            return
        }
        // Sources: context paths are clamped to the context; wildcards expand per component.
        var sources: [(path: String, relative: String)] = []
        for p in c.paths {
            let clean = normalize("/" + p)
            let matches = expandWildcards(sourceRoot, String(clean.dropFirst()))
            if matches.isEmpty {
                throw ExecutorError(
                    "\(c.isAdd ? "ADD" : "COPY") failed: \(p): no such file or directory in the \(c.source == .context ? "build context" : "source stage")"
                )
            }
            for m in matches {
                // An ignored source is left out; an ignored directory is still read when an
                // exception may re-include something inside it.
                if c.source == .context && !m.isEmpty && ignore.excludes(m)
                    && !(isDirectory(sourceRoot + "/" + m, follow: false) && ignore.mayMatch(below: m, exceptions: true))
                {
                    continue
                }
                sources.append((m.isEmpty ? sourceRoot : sourceRoot + "/" + m, m))
            }
        }
        if sources.isEmpty && c.inlineFiles.isEmpty {
            throw ExecutorError(
                "\(c.isAdd ? "ADD" : "COPY") failed: every source (\(c.paths.joined(separator: " "))) is excluded by .dockerignore")
        }
        let destination = try scopedPath(root, normalize(c.destination))
        let destIsDirectory =
            c.destination.hasSuffix("/") || sources.count + c.inlineFiles.count > 1
            || isDirectory(root + destination)
        if destIsDirectory {
            try makeDirectories(root, destination, owner: nil)
        } else {
            try makeDirectories(root, parentOf(destination), owner: nil)
        }
        for (path, relative) in sources {
            var st = stat()
            // The top-level source is followed when it is a symlink (as Docker does), but must stay
            // inside the source root.
            guard stat(path, &st) == 0 else { throw .errno("stat", relative.isEmpty ? "." : relative) }
            try checkInside(path, sourceRoot, relative: relative)
            if st.st_mode & S_IFMT == S_IFDIR {
                let target = root + destination
                if !isDirectory(target) { try makeDirectories(root, destination, owner: nil) }
                try TreeCopy.copyContents(
                    of: path, into: target, owner: owner, mode: mode,
                    filter: filter(sourceRelative: relative, includes: nil, ignore: ignore))
            } else if c.isAdd && c.unpack != false && c.source == .context && st.st_size > 0,
                let unpacked = try context.unpackArchive(path, name: relative)
            {
                // ADD of a local tar archive (plain, gzip, bzip2, xz, zstd): its contents are
                // merged into the destination directory, owners from the archive unless --chown.
                if !isDirectory(root + destination) { try makeDirectories(root, destination, owner: nil) }
                try TreeCopy.copyContents(of: unpacked, into: root + destination, owner: c.chown == nil ? nil : owner, mode: mode)
            } else {
                // A file named by the source (a wildcard match included): --exclude patterns apply
                // below a copied directory only, as in BuildKit.
                let name = String(relative.split(separator: "/").last ?? Substring(relative))
                let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
                TreeRemoval.remove(target)
                try TreeCopy.copy(path, to: target, owner: owner, mode: mode)
            }
        }
        for (name, content) in c.inlineFiles {
            // The planner refuses such names with their position; a plan made otherwise is
            // checked here, since the name is joined onto a host path.
            guard isFileName(name) else { throw ExecutorError("\(c.isAdd ? "ADD" : "COPY") <<\(name): " + heredocNameRule) }
            let target = destIsDirectory ? root + (destination == "/" ? "" : destination) + "/" + name : root + destination
            TreeRemoval.remove(target)
            let permissions = mode_t(mode?.apply(to: 0o644, isDirectory: false) ?? 0o644)
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, permissions)
            guard fd >= 0 else { throw .errno("create", target.dropFirst(root.count).description) }
            let bytes = Array(content.utf8)
            _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            _ = RecordedOwner.set(target, uid: owner.uid, gid: owner.gid)
            chmod(target, permissions)
        }
    }

    /// The filter for copying one source: `.dockerignore` (context sources, paths relative to
    /// the context), --exclude patterns (relative to the source) and, for --parents, the source
    /// pattern as an include pattern.
    func filter(sourceRelative: String, includes: DockerIgnore?, ignore contextIgnore: DockerIgnore) -> CopyFilter {
        let ignore = copy.source == .context ? contextIgnore : DockerIgnore(patterns: [])
        let excludes = DockerIgnore(patterns: copy.excludes)
        return { rel in
            let full = sourceRelative.isEmpty ? rel : sourceRelative + "/" + rel
            if ignore.excludes(full) || excludes.excludes(rel) {
                let reincluded = ignore.mayMatch(below: full, exceptions: true) || excludes.mayMatch(below: rel, exceptions: true)
                return reincluded ? .descend : .skip
            }
            guard let includes else { return .include }
            if includes.matches(rel) { return .include }
            return includes.mayMatch(below: rel, exceptions: false) ? .descend : .skip
        }
    }

    /// A top-level source may be a symlink (followed, as Docker does) but must stay inside its root.
    func checkInside(_ path: String, _ sourceRoot: String, relative: String) throws(ExecutorError) {
        var resolvedPath = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        var resolvedRoot = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        guard realpath(path, &resolvedPath) != nil, realpath(sourceRoot, &resolvedRoot) != nil else {
            throw .errno("resolve", relative.isEmpty ? "." : relative)
        }
        let p = String(decoding: resolvedPath.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let r = String(decoding: resolvedRoot.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard p == r || p.hasPrefix(r == "/" ? "/" : r + "/") else {
            throw ExecutorError(
                "\(relative): a symlink that leads outside the \(copy.source == .context ? "build context" : "source stage")")
        }
    }

    /// COPY --parents: each source keeps its path relative to the source root, or to a `/./`
    /// pivot in it (`COPY --parents ./src/./app/*.py /dst/` gives /dst/app/x.py). The source is
    /// an include pattern over the tree below the pivot (`**` for any depth); a source without
    /// wildcards must exist.
    func copyWithParents(
        from sourceRoot: String, into root: String, owner: Ownership, mode: ModeChange?, ignore: DockerIgnore
    ) throws(ExecutorError) {
        let c = copy
        let destination = try scopedPath(root, normalize(c.destination))
        try makeDirectories(root, destination, owner: nil)
        for p in c.paths {
            var pivot = "/", pattern = String(normalize("/" + p).dropFirst())
            let parts = p.split(separator: "/", omittingEmptySubsequences: false)
            if let dot = parts.dropFirst().firstIndex(of: "."), dot < parts.count - 1 {
                pivot = normalize("/" + parts[..<dot].joined(separator: "/"))
                pattern = String(normalize("/" + parts[(dot + 1)...].joined(separator: "/")).dropFirst())
            }
            let pivotRelative = String(pivot.dropFirst())
            let base = pivotRelative.isEmpty ? sourceRoot : sourceRoot + "/" + pivotRelative
            guard isDirectory(base) else {
                throw ExecutorError(
                    "COPY --parents failed: \(p): \(pivot) is not a directory in the \(c.source == .context ? "build context" : "source stage")"
                )
            }
            try checkInside(base, sourceRoot, relative: pivotRelative)
            let wild = p.contains { "*?[".contains($0) }
            if !wild {
                var st = stat()
                guard lstat(base + "/" + pattern, &st) == 0 else {
                    throw ExecutorError(
                        "COPY failed: \(p): no such file or directory in the \(c.source == .context ? "build context" : "source stage")")
                }
            }
            let copied = try TreeCopy.copyContents(
                of: base, into: root + destination, owner: owner, mode: mode,
                filter: filter(sourceRelative: pivotRelative, includes: DockerIgnore(patterns: [pattern]), ignore: ignore))
            if !copied && !wild {
                throw ExecutorError("COPY failed: \(p): excluded (by .dockerignore or --exclude)")
            }
        }
    }
}
