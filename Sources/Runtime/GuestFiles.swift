// What Golem's guest init writes into the image's root before any process starts (init.c
// setup_network): localhost entries appended to /etc/hosts, /etc/resolv.conf replaced by
// Cloudflare's and Google's resolvers. Both are opened inside the root: a symlink in the image
// never leads to a host file.
import CSystem
#if canImport(Glibc)
import Glibc
#endif

/// Writes the /etc/hosts and /etc/resolv.conf that Golem's guest init writes into the image's root.
public enum GuestFiles {
    /// The lines init.c appends to /etc/hosts ("%s\t%s\n" per entry).
    public static let hostsEntries =
        "127.0.0.1\tlocalhost\n::1\tip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n"
    /// init.c's resolv.conf, whole.
    public static let resolvConf = "nameserver 1.1.1.1\nnameserver 8.8.8.8\n"

    /// Appends to /etc/hosts and replaces /etc/resolv.conf in the root at `root`. A failure is
    /// what makes a provider's guest init abort the boot, and the error says so.
    public static func write(root: String) throws(RunError) {
        let rootfd = open(root, gvmc_o_path | O_DIRECTORY | O_CLOEXEC)
        guard rootfd >= 0 else { throw .system("cannot open \(root)", errno: errno) }
        defer { close(rootfd) }
        try put(rootfd, "/etc/hosts", hostsEntries, append: true)
        try put(rootfd, "/etc/resolv.conf", resolvConf, append: false)
    }

    static func put(_ rootfd: Int32, _ path: String, _ text: String, append: Bool) throws(RunError) {
        var fd = gvmc_open_in_root(rootfd, path, O_WRONLY | (append ? O_APPEND : O_TRUNC))
        if fd < 0 && errno == ENOENT {
            fd = gvmc_open_in_root(rootfd, path, O_WRONLY | O_CREAT | O_EXCL)
            if fd >= 0 { fchmod(fd, 0o644) }
        }
        guard fd >= 0 else {
            throw .image(
                "a provider cannot boot this image: Golem's guest init writes \(path) and powers the VM off when it cannot (\(path): \(String(cString: strerror(errno)))); the image needs a real /etc directory"
            )
        }
        defer { close(fd) }
        let n = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        guard n == text.utf8.count else { throw .system("cannot write \(path) in the image's overlay", errno: errno) }
    }
}
