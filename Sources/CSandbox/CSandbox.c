#define _GNU_SOURCE
#include "CSandbox.h"
#include "SeccompTables.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/mount.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)
#define PATH_BUF 4096

struct child_args {
    const struct gvmc_sandbox_spec *spec;
    int error_fd;
    struct sock_fprog filter; /* built by the parent: the child must not allocate */
};

/* Async-signal-safe helpers: no malloc, no stdio. */
static size_t s_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

/* "/proc/self/fd/<fd>": how a mount is made onto an object resolved inside the root (the kernel
 * follows the magic link to exactly that object, never to a path looked up again on the host). */
static void fd_path(char out[32], int fd) {
    static const char prefix[] = "/proc/self/fd/";
    char digits[12];
    int n = 0;
    do { digits[n++] = (char)('0' + fd % 10); fd /= 10; } while (fd > 0);
    memcpy(out, prefix, sizeof prefix - 1);
    size_t i = sizeof prefix - 1;
    while (n > 0) out[i++] = digits[--n];
    out[i] = 0;
}

/* Reports "<step>: <errno text>" to the parent and exits. strerror is not async-signal-safe, so
 * the errno number is sent and the parent formats it. */
static void fail(int fd, const char *step) {
    int e = errno;
    char record[512];
    size_t n = s_len(step);
    if (n > sizeof record - 16) n = sizeof record - 16;
    memcpy(record, &e, sizeof e);
    memcpy(record + sizeof e, step, n);
    (void)!write(fd, record, sizeof e + n);
    _exit(127);
}

enum create_kind { CREATE_NONE, CREATE_DIR, CREATE_FILE };

/* Opens `path` (absolute, inside the root) as an O_PATH descriptor with the kernel's in-root
 * resolution: `..` and absolute symlinks stop at the root, magic links are refused, so nothing
 * the image holds can send a mount onto the host. Missing components are created when asked
 * (directories, or an empty file last). Returns -1 with errno. */
static int open_in_root(int rootfd, const char *path, enum create_kind create, int nofollow) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_PATH | O_CLOEXEC | (nofollow ? O_NOFOLLOW : 0);
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
    if (fd >= 0 || errno != ENOENT || create == CREATE_NONE) return fd;
    char parent[PATH_BUF];
    size_t n = s_len(path);
    if (n >= sizeof parent) { errno = ENAMETOOLONG; return -1; }
    memcpy(parent, path, n + 1);
    while (n > 0 && parent[n - 1] == '/') parent[--n] = 0;
    char *slash = strrchr(parent, '/');
    if (!slash || !slash[1]) { errno = ENOENT; return -1; }
    *slash = 0;
    const char *name = slash + 1;
    int dir = parent[0] ? open_in_root(rootfd, parent, CREATE_DIR, 0) : (int)syscall(SYS_openat2, rootfd, "/", &how, sizeof how);
    if (dir < 0) return -1;
    int made;
    if (create == CREATE_FILE) {
        made = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (made >= 0) close(made);
    } else {
        made = mkdirat(dir, name, 0755);
    }
    close(dir);
    if (made < 0 && errno != EEXIST) return -1;
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* The MS_* flags a bind remount must repeat (a user namespace refuses to clear locked ones). */
static unsigned long kept_flags(const char *path) {
    struct statfs st;
    if (statfs(path, &st) < 0) return 0;
    unsigned long f = 0;
    if (st.f_flags & ST_RDONLY) f |= MS_RDONLY;
    if (st.f_flags & ST_NOSUID) f |= MS_NOSUID;
    if (st.f_flags & ST_NODEV) f |= MS_NODEV;
    if (st.f_flags & ST_NOEXEC) f |= MS_NOEXEC;
    if (st.f_flags & ST_NOATIME) f |= MS_NOATIME;
    if (st.f_flags & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (st.f_flags & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

/* Makes the mount at `path` (inside the root) and every mount below it read-only. */
static void make_readonly(int fd, int rootfd, const char *path, const char *step) {
    int target = open_in_root(rootfd, path, CREATE_NONE, 0);
    if (target < 0) fail(fd, step);
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    if (syscall(SYS_mount_setattr, target, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0) {
        if (errno != ENOSYS) fail(fd, step);
        char p[32];
        fd_path(p, target);
        if (mount(NULL, p, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | kept_flags(p), NULL) < 0) fail(fd, step);
    }
    close(target);
}

/* Mounts onto `target` (inside the root, created as a directory when missing). */
static void mount_at(int fd, int rootfd, const char *target, const char *source, const char *fstype,
                     unsigned long flags, const char *data, enum create_kind create, const char *step) {
    int t = open_in_root(rootfd, target, create, 0);
    if (t < 0) fail(fd, step);
    char p[32];
    fd_path(p, t);
    if (mount(source, p, fstype, flags, data) < 0) fail(fd, step);
    close(t);
}

static void make_device(int fd, int rootfd, const char *name, mode_t mode, unsigned major, unsigned minor) {
    int dev = open_in_root(rootfd, "/dev", CREATE_NONE, 1);
    if (dev < 0) fail(fd, "open /dev");
    const char *leaf = name + 5; /* after "/dev/" */
    if (mknodat(dev, leaf, S_IFCHR | mode, makedev(major, minor)) == 0 || errno == EEXIST) {
        fchmodat(dev, leaf, mode, 0);
        close(dev);
        return;
    }
    /* In a user namespace devices cannot be made: the host's own node is bound instead, as
     * rootless runtimes do (`name` is the host path too). */
    if (errno != EPERM) fail(fd, "mknod in /dev");
    int f = openat(dev, leaf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (f < 0) fail(fd, "create a /dev node");
    close(f);
    close(dev);
    mount_at(fd, rootfd, name, name, NULL, MS_BIND, NULL, CREATE_NONE, "bind a /dev node");
}

/* The host's resolv.conf or hosts over the image's regular file (nothing when it is missing,
 * not a regular file, or reached through a symlink: the parent creates a missing one). */
static void bind_file(int fd, int rootfd, const char *target, const char *source, const char *step) {
    if (!source) return;
    int t = open_in_root(rootfd, target, CREATE_NONE, 1);
    if (t < 0) return;
    struct stat st;
    int regular = fstat(t, &st) == 0 && S_ISREG(st.st_mode);
    close(t);
    if (!regular) return;
    mount_at(fd, rootfd, target, source, NULL, MS_BIND, NULL, CREATE_NONE, step);
    make_readonly(fd, rootfd, target, step);
}

/* runc's defaults: kernel interfaces a container has no business reading are hidden, the
 * writable ones that are not namespaced are read-only. */
static const char *const masked_paths[] = {
    "/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
    "/sys/devices/virtual/powercap",
};
static const char *const readonly_paths[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
};

static void mask_kernel_interfaces(int fd, int rootfd) {
    for (size_t i = 0; i < sizeof masked_paths / sizeof *masked_paths; i++) {
        int t = open_in_root(rootfd, masked_paths[i], CREATE_NONE, 1);
        if (t < 0) continue; /* not on this kernel */
        struct stat st;
        if (fstat(t, &st) < 0) fail(fd, "mask a kernel file");
        char p[32];
        fd_path(p, t);
        int r = S_ISDIR(st.st_mode) ? mount("tmpfs", p, "tmpfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=0")
                                    : mount("/dev/null", p, NULL, MS_BIND, NULL);
        if (r < 0) fail(fd, "mask a kernel file");
        close(t);
    }
    for (size_t i = 0; i < sizeof readonly_paths / sizeof *readonly_paths; i++) {
        int t = open_in_root(rootfd, readonly_paths[i], CREATE_NONE, 1);
        if (t < 0) continue;
        char p[32];
        fd_path(p, t);
        if (mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0) fail(fd, "bind a kernel file read-only");
        close(t);
        make_readonly(fd, rootfd, readonly_paths[i], "make a kernel file read-only");
    }
}

/* /sys read-only: a new sysfs where the kernel allows one (root, or a user namespace with its
 * own network namespace), else the host's, bound and made read-only all the way down. */
static void mount_sys(int fd, int rootfd) {
    int t = open_in_root(rootfd, "/sys", CREATE_DIR, 0);
    if (t < 0) fail(fd, "mount /sys");
    char p[32];
    fd_path(p, t);
    if (mount("sysfs", p, "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
        if (mount("/sys", p, NULL, MS_BIND | MS_REC, NULL) < 0) fail(fd, "bind /sys");
        make_readonly(fd, rootfd, "/sys", "make /sys read-only");
    }
    close(t);
}

/* Docker's default capability set (moby oci/caps/defaults.go); all others leave the bounding
 * set, so no setuid binary in the image can regain them. */
#define KEEP_CAPS ((1u << CAP_CHOWN) | (1u << CAP_DAC_OVERRIDE) | (1u << CAP_FOWNER) | (1u << CAP_FSETID) | \
                   (1u << CAP_KILL) | (1u << CAP_SETGID) | (1u << CAP_SETUID) | (1u << CAP_SETPCAP) |         \
                   (1u << CAP_NET_BIND_SERVICE) | (1u << CAP_NET_RAW) | (1u << CAP_SYS_CHROOT) |             \
                   (1u << CAP_MKNOD) | (1u << CAP_AUDIT_WRITE) | (1u << CAP_SETFCAP))

static void drop_bounding_set(int fd) {
    for (int cap = 0; cap < 64; cap++) {
        if (cap < 32 && (KEEP_CAPS & (1u << cap))) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
            if (errno == EINVAL) break; /* past this kernel's last capability */
            fail(fd, "drop capabilities");
        }
    }
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL) fail(fd, "clear ambient capabilities");
}

/* Landlock (ABI 6, Linux 6.12): the step may not connect to abstract Unix sockets, nor signal
 * processes, created outside its own domain. Abstract sockets belong to the network namespace,
 * which a step with the default network shares with the host (a containerd-shim-like socket
 * there is a way out). Older kernels have no such scope: the step runs without it. */
struct landlock_scope_attr { unsigned long long handled_access_fs, handled_access_net, scoped; };
#define LANDLOCK_VERSION_QUERY 1u
#define LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET_ 1ull
#define LANDLOCK_SCOPE_SIGNAL_ 2ull

static void scope_abstract_sockets(int fd) {
    if (gvmc_landlock_abi() < 6) return;
    struct landlock_scope_attr attr = {0, 0, LANDLOCK_SCOPE_ABSTRACT_UNIX_SOCKET_ | LANDLOCK_SCOPE_SIGNAL_};
    int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (ruleset < 0) fail(fd, "create the Landlock ruleset");
    if (syscall(SYS_landlock_restrict_self, ruleset, 0) < 0) fail(fd, "enforce the Landlock ruleset");
    close(ruleset);
}

int gvmc_landlock_abi(void) {
    long abi = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_VERSION_QUERY);
    return abi < 0 ? 0 : (int)abi;
}

static void limit_capabilities(int fd) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = KEEP_CAPS;
    if (syscall(SYS_capset, &header, data) < 0) fail(fd, "set capabilities");
}

/* The new network namespace's loopback interface up (it starts down). */
static void loopback_up(int fd) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) fail(fd, "socket for the loopback interface");
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) fail(fd, "read the loopback interface's flags");
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) fail(fd, "bring the loopback interface up");
    close(sock);
}

static int child_main(void *arg) {
    struct child_args *a = arg;
    const struct gvmc_sandbox_spec *s = a->spec;
    int fd = a->error_fd;
    const char *root = s->rootfs;

    /* The step dies with the thread that started it (gvmc killed, even with SIGKILL). */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(fd, "set the parent-death signal");

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(fd, "make mounts private");
    /* The root becomes a mount of its own (pivot_root needs one), without device access: a node
     * the image ships (a host disk's block device, say) cannot be opened. */
    if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0) fail(fd, "bind the root filesystem");
    if (mount(NULL, root, NULL, MS_BIND | MS_REMOUNT | MS_NODEV | kept_flags(root), NULL) < 0) fail(fd, "remount the root filesystem nodev");
    int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) fail(fd, "open the root filesystem");

    mount_at(fd, rootfd, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, CREATE_DIR, "mount /proc");
    mount_at(fd, rootfd, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", CREATE_DIR, "mount /dev");
    make_device(fd, rootfd, "/dev/null", 0666, 1, 3);
    make_device(fd, rootfd, "/dev/zero", 0666, 1, 5);
    make_device(fd, rootfd, "/dev/full", 0666, 1, 7);
    make_device(fd, rootfd, "/dev/random", 0666, 1, 8);
    make_device(fd, rootfd, "/dev/urandom", 0666, 1, 9);
    make_device(fd, rootfd, "/dev/tty", 0666, 5, 0);
    mount_at(fd, rootfd, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", CREATE_DIR, "mount /dev/pts");
    {
        int dev = open_in_root(rootfd, "/dev", CREATE_NONE, 1);
        if (dev < 0) fail(fd, "open /dev");
        (void)!symlinkat("pts/ptmx", dev, "ptmx");
        (void)!symlinkat("/proc/self/fd", dev, "fd");
        (void)!symlinkat("/proc/self/fd/0", dev, "stdin");
        (void)!symlinkat("/proc/self/fd/1", dev, "stdout");
        (void)!symlinkat("/proc/self/fd/2", dev, "stderr");
        close(dev);
    }
    mount_at(fd, rootfd, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", CREATE_DIR, "mount /dev/shm");
    mount_sys(fd, rootfd);
    mask_kernel_interfaces(fd, rootfd);
    bind_file(fd, rootfd, "/etc/resolv.conf", s->host_resolv_conf, "bind /etc/resolv.conf");
    bind_file(fd, rootfd, "/etc/hosts", s->host_hosts, "bind /etc/hosts");
    for (int i = 0; i < s->nmounts; i++) {
        const struct gvmc_mount *m = &s->mounts[i];
        if (m->fstype) {
            mount_at(fd, rootfd, m->target, m->fstype, m->fstype, MS_NOSUID | MS_NODEV, m->data, CREATE_NONE, "RUN --mount (tmpfs)");
        } else {
            mount_at(fd, rootfd, m->target, m->source, NULL, MS_BIND | MS_REC, NULL, CREATE_NONE, "RUN --mount (bind)");
            if (m->readonly) make_readonly(fd, rootfd, m->target, "RUN --mount (read-only remount)");
        }
    }
    if (s->new_network && s->loopback_up) loopback_up(fd);
    if (s->hostname && sethostname(s->hostname, s_len(s->hostname)) < 0) fail(fd, "sethostname");

    /* pivot_root, not chroot: the host's root is detached from this mount namespace, so no
     * chroot trick (or file descriptor) leads back to it. */
    if (fchdir(rootfd) < 0) fail(fd, "enter the root filesystem");
    if (syscall(SYS_pivot_root, ".", ".") < 0) fail(fd, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0) fail(fd, "detach the host's root");
    close(rootfd);
    if (chdir("/") < 0) fail(fd, "chdir to /");
    if (chdir(s->cwd && s->cwd[0] ? s->cwd : "/") < 0) fail(fd, "chdir to the working directory");

    /* A session of its own: gvmc's terminal is not the step's controlling terminal, so no
     * keystroke can be pushed into the user's shell with TIOCSTI. */
    if (setsid() < 0) fail(fd, "setsid");
    if (s->stdin_fd >= 0 && dup2(s->stdin_fd, 0) < 0) fail(fd, "dup2 stdin");
    if (s->stdout_fd >= 0 && dup2(s->stdout_fd, 1) < 0) fail(fd, "dup2 stdout");
    if (s->stderr_fd >= 0 && dup2(s->stderr_fd, 2) < 0) fail(fd, "dup2 stderr");
    /* No descriptor of gvmc's reaches the step (a directory of the host through /proc/self/fd). */
    if (syscall(SYS_close_range, 3, ~0u, CLOSE_RANGE_CLOEXEC) < 0) {
        for (int i = 3; i < 65536; i++) fcntl(i, F_SETFD, FD_CLOEXEC);
    }

    /* Capabilities and system calls as in Docker's default confinement. The filter is installed
     * while CAP_SYS_ADMIN is still held (no_new_privs stays off, as in Docker, so setuid tools
     * such as su work); setuid, setgroups, capset and execve are allowed by it. */
    drop_bounding_set(fd);
    scope_abstract_sockets(fd);
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &a->filter) < 0) fail(fd, "install the seccomp filter");
    limit_capabilities(fd);

    /* Raw system calls: glibc's wrappers would try to synchronise the parent's other threads
     * (its setxid broadcast), which do not exist in this clone() child, and hang. */
    if (syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) < 0 && !(errno == EPERM && s->setgroups_denied))
        fail(fd, "setgroups");
    if (syscall(SYS_setgid, s->gid) < 0) fail(fd, "setgid");
    if (syscall(SYS_setuid, s->uid) < 0) fail(fd, "setuid");

    /* Default signal handling for the command (the parent blocks some signals). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

    if (s->exec_path) {
        execve(s->exec_path, (char *const *)s->argv, (char *const *)s->envp);
        fail(fd, "exec");
    }
    const char *file = s->argv[0];
    if (!file || !file[0]) { errno = ENOENT; fail(fd, "exec: empty command"); }
    if (strchr(file, '/')) {
        execve(file, (char *const *)s->argv, (char *const *)s->envp);
        fail(fd, "exec");
    }
    /* PATH lookup inside the rootfs, as the shell and Docker do. */
    const char *p = s->path_env ? s->path_env : "";
    int saved = ENOENT;
    while (1) {
        const char *end = strchr(p, ':');
        size_t dl = end ? (size_t)(end - p) : s_len(p);
        char candidate[PATH_BUF];
        size_t fl = s_len(file);
        if (dl + fl + 2 < sizeof candidate) {
            memcpy(candidate, dl ? p : ".", dl ? dl : 1);
            size_t n = dl ? dl : 1;
            candidate[n] = '/';
            memcpy(candidate + n + 1, file, fl + 1);
            execve(candidate, (char *const *)s->argv, (char *const *)s->envp);
            if (errno != ENOENT && errno != ENOTDIR) saved = errno;
        }
        if (!end) break;
        p = end + 1;
    }
    errno = saved;
    fail(fd, "exec (not found in PATH)");
    return 127;
}


/* ---- The seccomp filter: Docker's default profile as a classic BPF program ----
 * Allowed calls come from SeccompTables.h as sorted number ranges; clone, clone3, personality,
 * mknod and mknodat are decided on their arguments, as Docker's profile does. Anything else fails
 * with EPERM. 32-bit x86 programs get the same list under their own numbers; x32 calls (numbers
 * with bit 30 set) match no range. */
#define FILTER_MAX 1024
#define RET_ALLOW SECCOMP_RET_ALLOW
#define RET_EPERM (SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA))
#define RET_ENOSYS (SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA))
#define ARG_LOW(i) ((unsigned)(offsetof(struct seccomp_data, args) + 8 * (i)))
/* Namespace flags clone may not take without CAP_SYS_ADMIN (Docker's mask 0x7E020000). */
#define CLONE_NAMESPACES (CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP)

struct filter { struct sock_filter *f; int n; };

static void emit(struct filter *b, unsigned short code, unsigned char jt, unsigned char jf, unsigned k) {
    if (b->n < FILTER_MAX) b->f[b->n] = (struct sock_filter){code, jt, jf, k};
    b->n++;
}
static void ret(struct filter *b, unsigned k) { emit(b, BPF_RET | BPF_K, 0, 0, k); }

/* A ← low word of argument `arg`; allow when it is one of `values`, else EPERM. */
static void allow_values(struct filter *b, int arg, const unsigned *values, int count) {
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(arg));
    for (int i = 0; i < count; i++) emit(b, BPF_JMP | BPF_JEQ | BPF_K, (unsigned char)(count - i), 0, values[i]);
    ret(b, RET_EPERM);
    ret(b, RET_ALLOW);
}

/* `if (nr == number) { body }`, the body built by `make` (it always returns). */
static void when_call(struct filter *b, int number, void (*make)(struct filter *, int), int param) {
    if (number < 0) return;
    struct sock_filter body[64];
    struct filter inner = {body, 0};
    make(&inner, param);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, (unsigned char)inner.n, (unsigned)number);
    for (int i = 0; i < inner.n && i < 64; i++) emit(b, body[i].code, body[i].jt, body[i].jf, body[i].k);
}

static void body_enosys(struct filter *b, int unused) { (void)unused; ret(b, RET_ENOSYS); }

static void body_clone(struct filter *b, int unused) {
    (void)unused;
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(0));
    emit(b, BPF_JMP | BPF_JSET | BPF_K, 1, 0, CLONE_NAMESPACES);
    ret(b, RET_ALLOW);
    ret(b, RET_EPERM);
}

static void body_personality(struct filter *b, int unused) {
    (void)unused;
    static const unsigned allowed[] = {0x0, 0x8, 0x20000, 0x20008, 0xffffffff};
    allow_values(b, 0, allowed, 5);
}

/* mknod of a FIFO, socket or file: allowed; of a character device: only the ones a container's
 * /dev has (and 0:0, overlayfs's whiteout); of a block device: never. `mode_arg` is the mode's
 * argument index, the device number follows it. */
static void body_mknod(struct filter *b, int mode_arg) {
    static const unsigned devices[] = {0x000, 0x103, 0x105, 0x107, 0x108, 0x109, 0x500, 0x501, 0x502};
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, ARG_LOW(mode_arg));
    emit(b, BPF_ALU | BPF_AND | BPF_K, 0, 0, S_IFMT);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 0, 1, S_IFBLK);
    ret(b, RET_EPERM);
    emit(b, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, S_IFCHR);
    ret(b, RET_ALLOW);
    allow_values(b, mode_arg + 1, devices, (int)(sizeof devices / sizeof *devices));
}

static void arch_rules(struct filter *b, const unsigned (*ranges)[2], int count,
                       int nr_clone, int nr_clone3, int nr_personality, int nr_mknod, int nr_mknodat) {
    emit(b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
    when_call(b, nr_clone3, body_enosys, 0); /* glibc then falls back to clone, which is checked */
    when_call(b, nr_clone, body_clone, 0);
    when_call(b, nr_personality, body_personality, 0);
    when_call(b, nr_mknod, body_mknod, 1);
    when_call(b, nr_mknodat, body_mknod, 2);
    for (int i = 0; i < count; i++) {
        emit(b, BPF_JMP | BPF_JGT | BPF_K, 3, 0, ranges[i][1]);
        emit(b, BPF_JMP | BPF_JGE | BPF_K, 0, 1, ranges[i][0]);
        ret(b, RET_ALLOW);
        ret(b, RET_EPERM);
    }
    ret(b, RET_EPERM);
}

/* Returns the program's length, or -1 when it does not fit or this architecture has no table. */
static int build_filter(struct sock_filter *out) {
#if defined(__x86_64__)
    struct filter b = {out, 0};
    emit(&b, BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
    int jump_to_i386 = b.n;
    emit(&b, BPF_JMP | BPF_JA, 0, 0, 0);
    arch_rules(&b, gvmc_seccomp_x86_64, (int)(sizeof gvmc_seccomp_x86_64 / sizeof *gvmc_seccomp_x86_64),
               GVMC_NR_x86_64_clone, GVMC_NR_x86_64_clone3, GVMC_NR_x86_64_personality, GVMC_NR_x86_64_mknod, GVMC_NR_x86_64_mknodat);
    if (b.n < FILTER_MAX) out[jump_to_i386].k = (unsigned)(b.n - jump_to_i386 - 1);
    emit(&b, BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_I386);
    ret(&b, SECCOMP_RET_KILL_PROCESS);
    arch_rules(&b, gvmc_seccomp_i386, (int)(sizeof gvmc_seccomp_i386 / sizeof *gvmc_seccomp_i386),
               GVMC_NR_i386_clone, GVMC_NR_i386_clone3, GVMC_NR_i386_personality, GVMC_NR_i386_mknod, GVMC_NR_i386_mknodat);
    return b.n <= FILTER_MAX ? b.n : -1;
#else
    (void)out;
    return -1;
#endif
}

pid_t gvmc_sandbox_spawn(const struct gvmc_sandbox_spec *spec, char *error, size_t error_len) {
    int pipefd[2];
    if (pipe2(pipefd, O_CLOEXEC) < 0) {
        snprintf(error, error_len, "pipe: %s", strerror(errno));
        return -1;
    }
    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        snprintf(error, error_len, "stack: %s", strerror(errno));
        close(pipefd[0]); close(pipefd[1]);
        return -1;
    }
    static _Thread_local struct sock_filter filter[FILTER_MAX];
    int filter_len = build_filter(filter);
    if (filter_len < 0) {
        snprintf(error, error_len, "no seccomp filter for this architecture (RUN steps are confined on x86_64 only)");
        close(pipefd[0]); close(pipefd[1]);
        munmap(stack, STACK_SIZE);
        return -1;
    }
    struct child_args args = {spec, pipefd[1], {(unsigned short)filter_len, filter}};
    int flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    if (spec->new_network) flags |= CLONE_NEWNET;
    pid_t pid = clone(child_main, (char *)stack + STACK_SIZE, flags, &args);
    int clone_errno = errno;
    close(pipefd[1]);
    if (pid < 0) {
        snprintf(error, error_len, "clone (new namespaces need root or CAP_SYS_ADMIN): %s", strerror(clone_errno));
        close(pipefd[0]);
        munmap(stack, STACK_SIZE);
        return -1;
    }
    /* The child wrote a record only if a step failed; a successful exec closes the pipe. */
    char record[512];
    ssize_t n;
    do { n = read(pipefd[0], record, sizeof record - 1); } while (n < 0 && errno == EINTR);
    close(pipefd[0]);
    /* The child runs on its own copy of the address space: the stack can go now. */
    munmap(stack, STACK_SIZE);
    if (n > (ssize_t)sizeof(int)) {
        int e;
        memcpy(&e, record, sizeof e);
        record[n] = 0;
        snprintf(error, error_len, "%s: %s", record + sizeof e, strerror(e));
        int status;
        waitpid(pid, &status, 0);
        return -1;
    }
    return pid;
}

int gvmc_sandbox_wait(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) return 255;
    }
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 255;
}

/* Execs with no signal blocked (gvmc blocks some in every thread); reports a failure to
 * `error_fd` and exits. */
static void exec_unblocked(int error_fd, const char *path, const char *const *argv, const char *const *envp) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(path, (char *const *)argv, (char *const *)envp);
    fail(error_fd, "exec");
}

/* The re-executed build: a child in new user and mount namespaces that waits for its id maps. */
struct userns_args {
    const char *path;
    const char *const *argv;
    const char *const *envp;
    int go_fd;
    int error_fd;
};

static int userns_main(void *arg) {
    struct userns_args *a = arg;
    /* The build dies with gvmc (even killed with SIGKILL), and its mounts with its namespace. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(a->error_fd, "set the parent-death signal");
    char go;
    ssize_t n;
    do { n = read(a->go_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127); /* the parent gave up */
    /* Host mounts still show inside; none of the build's reach the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) fail(a->error_fd, "make mounts private");
    /* Drop the caller's supplementary groups (unmapped inside); refused with a single mapping,
     * where setgroups is denied. */
    syscall(SYS_setgroups, (size_t)0, (const gid_t *)0);
    exec_unblocked(a->error_fd, a->path, a->argv, a->envp);
    return 127;
}

int gvmc_userns_spawn(const char *path, const char *const *argv, const char *const *envp, int new_user, struct gvmc_userns *out) {
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) < 0) return -1;
    if (pipe2(err, O_CLOEXEC) < 0) { int e = errno; close(go[0]); close(go[1]); errno = e; return -1; }
    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        int e = errno;
        close(go[0]); close(go[1]); close(err[0]); close(err[1]);
        errno = e;
        return -1;
    }
    struct userns_args args = {path, argv, envp, go[0], err[1]};
    pid_t pid = clone(userns_main, (char *)stack + STACK_SIZE, (new_user ? CLONE_NEWUSER : 0) | CLONE_NEWNS | SIGCHLD, &args);
    int e = errno;
    munmap(stack, STACK_SIZE);
    close(go[0]);
    close(err[1]);
    if (pid < 0) {
        close(go[1]); close(err[0]);
        errno = e;
        return -1;
    }
    out->pid = pid;
    out->go_fd = go[1];
    out->error_fd = err[0];
    return 0;
}

int gvmc_userns_start(struct gvmc_userns *u, int go) {
    int e = 0;
    if (go) {
        char byte = 1;
        (void)!write(u->go_fd, &byte, 1);
    }
    close(u->go_fd);
    char record[512];
    ssize_t n;
    do { n = read(u->error_fd, record, sizeof record); } while (n < 0 && errno == EINTR);
    close(u->error_fd);
    if (n >= (ssize_t)sizeof(int)) memcpy(&e, record, sizeof e);
    else if (!go) e = ECANCELED;
    if (e) {
        int status;
        while (waitpid(u->pid, &status, 0) < 0 && errno == EINTR) {}
    }
    return e;
}

struct tied_args {
    const char *path;
    const char *const *argv;
    const char *const *envp;
    int fds[3];
    int error_fd;
};

static int tied_main(void *arg) {
    struct tied_args *a = arg;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) fail(a->error_fd, "set the parent-death signal");
    /* A Ctrl-C at the terminal reaches gvmc, which ends the process itself. */
    setpgid(0, 0);
    for (int i = 0; i < 3; i++)
        if (a->fds[i] >= 0 && dup2(a->fds[i], i) < 0) fail(a->error_fd, "dup2");
    exec_unblocked(a->error_fd, a->path, a->argv, a->envp);
    return 127;
}

pid_t gvmc_spawn_tied(const char *path, const char *const *argv, const char *const *envp, int stdin_fd, int stdout_fd, int stderr_fd) {
    int err[2];
    if (pipe2(err, O_CLOEXEC) < 0) return -1;
    void *stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) { int e = errno; close(err[0]); close(err[1]); errno = e; return -1; }
    struct tied_args args = {path, argv, envp, {stdin_fd, stdout_fd, stderr_fd}, err[1]};
    pid_t pid = clone(tied_main, (char *)stack + STACK_SIZE, SIGCHLD, &args);
    int e = errno;
    close(err[1]);
    if (pid < 0) { munmap(stack, STACK_SIZE); close(err[0]); errno = e; return -1; }
    char record[512];
    ssize_t n;
    do { n = read(err[0], record, sizeof record); } while (n < 0 && errno == EINTR);
    close(err[0]);
    munmap(stack, STACK_SIZE);
    if (n >= (ssize_t)sizeof(int)) {
        memcpy(&e, record, sizeof e);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        errno = e;
        return -1;
    }
    return pid;
}
