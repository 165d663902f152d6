// Bounds on what one download may write and how long it may stall.
import Foundation

/// What one download (ADD's file, a git pack) may write, so an endless body ends in an error
/// rather than a full disk: at most GVMC_MAX_DOWNLOAD bytes (default 64 GiB), and never the
/// last 256 MiB of the filesystem it lands on. A stalled transfer ends too: after
/// GVMC_STALL_SECONDS (default 60) below 1 KiB/s over HTTP (libcurl's low-speed limit) or
/// without a packet over SSH.
public enum DownloadLimit {
    /// A test's limits instead of the environment's.
    @TaskLocal static var override: Int64?
    @TaskLocal static var stallOverride: Int?
    static let reserve: Int64 = 256 << 20

    public static var stallSeconds: Int {
        stallOverride ?? ProcessInfo.processInfo.environment["GVMC_STALL_SECONDS"].flatMap { Int($0) }.map { max(1, $0) } ?? 60
    }

    static var maximum: Int64 {
        override ?? ProcessInfo.processInfo.environment["GVMC_MAX_DOWNLOAD"].flatMap { Int64($0) } ?? (64 << 30)
    }

    /// Counts the bytes written to `fd` and says, once they pass the limit, why they must stop.
    public struct Meter {
        let maximum = DownloadLimit.maximum
        var total: Int64 = 0
        var nextCheck: Int64 = 0

        public init() {}

        public mutating func add(_ count: Int, fd: Int32) -> String? {
            total += Int64(count)
            if total > maximum {
                return "more than \(maximum) bytes (the limit; GVMC_MAX_DOWNLOAD sets another)"
            }
            guard total >= nextCheck else { return nil }
            var fs = statvfs()
            if fstatvfs(fd, &fs) == 0 {
                let free = Int64(fs.f_bavail) * Int64(fs.f_frsize)
                if free < DownloadLimit.reserve { return "the filesystem it is written to has only \(free) bytes free" }
                nextCheck = total + min(64 << 20, (free - DownloadLimit.reserve) / 2)
            }
            return nil
        }
    }
}
