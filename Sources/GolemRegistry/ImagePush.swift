// `gvmc push`: a .gvmi to a Golem registry, as gvmkit-build uploads it (descriptor, tag check,
// chunks, completion, tag), but resumable (only the chunks the registry lacks are sent, none for
// an image it has), retried chunk by chunk, and checked before anything is sent.
import Foundation
import GVMI
import SquashFS

/// How `gvmc push` uploads: the registry, workers, chunk size, progress and retries.
public struct PushOptions: Sendable {
    /// The registry's base URL.
    public var registry: String
    public var workers = 4
    /// Default: gvmkit-build's for the file's size (ImageDescriptor.defaultChunkSize).
    public var chunkSize: UInt64?
    /// Phases and byte counts, for a display.
    public var progress = RegistryProgress.quiet
    public var retry = RetryPolicy()
    /// How long the registry may take to report the image complete after the last chunk.
    public var completionTimeout = 60.0
    /// Where the hashes of images gvmc wrote are recorded (the cache's `hashes/`): an image
    /// recorded there and unchanged since is not read again to make its descriptor.
    public var hashes: ImageHashStore?
    /// False after a recorded descriptor proved stale: the push hashes the file.
    var readsRecordedHashes = true
    /// Notes for the user (retries, steps); never given a token.
    public var log: @Sendable (String) -> Void = { _ in }

    public init(registry: String) { self.registry = registry }

    /// `$REGISTRY_URL`, else the public Golem registry.
    public static func defaultRegistry(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        environment["REGISTRY_URL"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://registry.golem.network"
    }
}

/// What a requestor needs to name a pushed image.
public struct PushResult: Sendable {
    public var path: String
    public var registry: String
    public var size: UInt64
    /// SHA3-224 of the file: the image hash.
    public var sha3: String
    /// The descriptor's SHA-256 (what gvmkit-build's JSON calls "hash").
    public var descriptorID: String
    public var downloadURL: String
    public var name: GolemImageName?
    public var chunkCount: Int
    public var chunksSent: Int

    /// `golem.srv.comp.task_package`, as yapapi's resolve_package_url makes it.
    public var taskPackage: String { "hash:sha3:\(sha3):\(downloadURL)" }
}

/// Uploads a .gvmi to a Golem registry, sending only the chunks it lacks.
public enum ImagePush {
    /// `gvmc inspect`'s checks, without hashing: trailer, ContainerConfig, superblock, and the
    /// squashfs directory tree.
    public static func validate(path: String) throws(GolemRegistryError) {
        do {
            _ = try GVMIInspector.check(path: path)
            _ = try SquashFSReader(path: path).entries()
        } catch {
            throw .invalidImage(path: path, reason: "\(error)")
        }
    }

    /// Pushes the .gvmi at `path`; with `name`, as that tag of the user in `credentials` (checked
    /// before any upload), else anonymously (by hash only). `known`, the descriptor the build
    /// computed as it wrote the file, saves hashing it again (each chunk sent is still checked
    /// against it as it is read).
    public static func push(
        path: String, name: GolemImageName?, credentials: RegistryCredentials?,
        options: PushOptions, known: ImageDescriptor? = nil
    ) throws(GolemRegistryError) -> PushResult {
        options.progress.phase(.checking)
        try validate(path: path)
        let client = try GolemRegistryClient(registry: options.registry, retry: options.retry)
        client.log = options.log
        if let name {
            guard name.user != nil else { throw .invalidImageName(name.description, reason: "a tag needs a user") }
            guard let credentials else {
                throw .credentials(
                    "pushing to \(name) needs credentials for \(client.registry): run gvmc login, or set REGISTRY_USER and REGISTRY_TOKEN")
            }
            try client.checkLogin(credentials)
        }

        let (fd, size) = try openImage(path)
        defer { close(fd) }
        let chunkSize = options.chunkSize ?? ImageDescriptor.defaultChunkSize(fileSize: size)
        guard chunkSize > 0 else { throw .invalidDescriptor("chunk size 0") }
        if (size + chunkSize - 1) / chunkSize > 1000 {
            options.log(
                "warning: chunk size \(chunkSize) makes \((size + chunkSize - 1) / chunkSize) chunks; the Golem registry documents at most 1000"
            )
        }
        // The descriptor: the build's own (`known`), else the one recorded when gvmc wrote the
        // file, else hashed now (and recorded, when the file did not change meanwhile).
        func hash() throws(GolemRegistryError) -> ImageDescriptor {
            options.progress.phase(.hashing)
            let before = ImageHashStore.stamp(fd: fd)
            var hashed: UInt64 = 0
            let computed = try DescriptorHasher.compute(fd: fd, path: path, size: size, chunkSize: chunkSize) {
                hashed += UInt64($0)
                options.progress.bytes(hashed, size)
            }
            options.hashes?.save(
                path: path, fd: fd, hashed: before, sha3_224: computed.sha3Hex, chunkSize: chunkSize, chunkSHA256: computed.chunkHashes)
            return computed
        }
        func fits(_ d: ImageDescriptor) -> Bool {
            d.fileSize == size && d.chunkSize == chunkSize && d.chunkCount == Int((size + chunkSize - 1) / chunkSize)
        }
        var descriptor: ImageDescriptor
        var fromRecord = false, usedRecord = false
        if let known, fits(known) {
            descriptor = known
        } else if options.readsRecordedHashes, let recorded = options.hashes?.load(path: path, fd: fd).flatMap(ImageDescriptor.init),
            fits(recorded)
        {
            descriptor = recorded
            fromRecord = true
            usedRecord = true
        } else {
            descriptor = try hash()
        }
        options.progress.phase(.uploading)

        var id: String
        var current: DescriptorStatus
        while true {
            id = descriptor.id
            var status = try client.status(of: id)
            if status == nil {
                try client.upload(descriptor: descriptor)
                status = try client.status(of: id)
            }
            guard let known = status else {
                throw .unexpectedStatus(
                    url: client.registry + "/v1/image/descr/\(id)", status: 404,
                    message: "the registry does not know the descriptor it was sent")
            }
            current = known
            // Chunks the registry has are not read for the upload: with a recorded descriptor,
            // they are checked here, so a record that no longer fits the file (a change the
            // file's times did not show) never names the registry's image as this file.
            guard fromRecord else { break }
            fromRecord = false
            let present = (0..<descriptor.chunkCount).filter {
                current.isComplete || ($0 < current.chunks.count && current.chunks[$0] == 1)
            }
            if try chunksMatch(present, descriptor: descriptor, fd: fd, path: path) { break }
            options.log("\(path) changed since its hashes were recorded: hashing it")
            descriptor = try hash()
            usedRecord = false
            options.progress.phase(.uploading)
        }
        var sent = 0
        if !current.isComplete {
            if let name, let credentials { try client.attach(id: id, name: name, credentials: credentials, check: true) }
            let missing = (0..<descriptor.chunkCount).filter { $0 >= current.chunks.count || current.chunks[$0] != 1 }
            let missingBytes = missing.reduce(UInt64(0)) { $0 + UInt64(descriptor.chunk($1).length) }
            if missing.count < descriptor.chunkCount {
                options.log(
                    "the registry has \(descriptor.chunkCount - missing.count) of \(descriptor.chunkCount) chunks; sending \(missing.count)"
                )
            }
            let uploader = ChunkUploader(
                registry: client.registry, retry: options.retry, descriptor: descriptor, fd: fd,
                path: path, total: missingBytes, progress: options.progress.bytes, log: options.log)
            do {
                try uploader.upload(missing, workers: options.workers)
            } catch .fileChanged where usedRecord {
                // The recorded hashes no longer fit the file: push it again, hashing it.
                options.log("\(path) changed since its hashes were recorded: hashing it")
                var again = options
                again.readsRecordedHashes = false
                return try push(path: path, name: name, credentials: credentials, options: again, known: nil)
            }
            sent = missing.count
            current = try waitForCompletion(client, id: id, chunkCount: descriptor.chunkCount, timeout: options.completionTimeout)
        } else {
            options.log("the registry has the image already: no chunk to send")
        }
        if let name, let credentials { try client.attach(id: id, name: name, credentials: credentials, check: false) }
        // The registry's own link when it resolves the hash (as a requestor would get it).
        let url = (try? client.info(hash: descriptor.sha3Hex, count: false).url) ?? client.registry + "/download/\(id)"
        return PushResult(
            path: path, registry: client.registry, size: size, sha3: descriptor.sha3Hex, descriptorID: id,
            downloadURL: url, name: name, chunkCount: descriptor.chunkCount, chunksSent: sent)
    }

    /// Whether the chunks `indices` of the file have the descriptor's SHA-256s.
    static func chunksMatch(_ indices: [Int], descriptor: ImageDescriptor, fd: Int32, path: String) throws(GolemRegistryError) -> Bool {
        var buffer = [UInt8](repeating: 0, count: indices.isEmpty ? 0 : Int(descriptor.chunkSize))
        for index in indices {
            let (offset, length) = descriptor.chunk(index)
            var done = 0
            while done < length {
                let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, length - done, off_t(offset) + off_t(done)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { return false }
                done += n
            }
            let digest = buffer.withUnsafeBytes { SHA256.hash(UnsafeRawBufferPointer(rebasing: $0[0..<length])) }
            if digest != descriptor.chunkHashes[index] { return false }
        }
        return true
    }

    /// Polls the descriptor's status until the registry reports the image complete (it checks
    /// the whole file's hash; the public registry's storage also lags, gvmkit-build waits 30 s).
    static func waitForCompletion(
        _ client: GolemRegistryClient, id: String, chunkCount: Int,
        timeout: Double
    ) throws(GolemRegistryError) -> DescriptorStatus {
        let deadline = Date().addingTimeInterval(timeout)
        var delay = 0.2
        while true {
            let status = try client.status(of: id)
            if let status, status.isComplete { return status }
            if Date() >= deadline {
                throw .incomplete(
                    registry: client.registry, present: status?.chunks.filter { $0 == 1 }.count ?? 0,
                    total: chunkCount, seconds: Int(timeout))
            }
            usleep(UInt32(min(delay, max(0, deadline.timeIntervalSinceNow)) * 1_000_000))
            delay = min(delay * 2, 5)
        }
    }
}
