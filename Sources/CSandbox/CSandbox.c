#define _GNU_SOURCE
#include "CSandbox.h"
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define STACK_SIZE (256 * 1024)
#define PATH_BUF 4096

struct child_args {
    const struct gvmc_sandbox_spec *spec;
    int error_fd;
};

/* Async-signal-safe helpers: no malloc, no stdio. */
static size_t s_len(const char *s) { size_t n = 0; while (s[n]) n++; return n; }

static int s_join(char *out, size_t cap, const char *a, const char *b) {
    size_t la = s_len(a), lb = s_len(b);
    if (la + lb + 1 > cap) return -1;
    memcpy(out, a, la);
    memcpy(out + la, b, lb + 1);
    return 0;
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

static void mount_in(int fd, const char *root, const char *target, const char *source, const char *fstype,
                     unsigned long flags, const char *data, const char *step) {
    char path[PATH_BUF];
    if (s_join(path, sizeof path, root, target) < 0) { errno = ENAMETOOLONG; fail(fd, step); }
    mkdir(path, 0755); /* the mount point may be missing (an empty stage) */
    if (mount(source, path, fstype, flags, data) < 0) fail(fd, step);
}

static void make_device(int fd, const char *root, const char *name, mode_t mode, unsigned major, unsigned minor) {
    char path[PATH_BUF];
    if (s_join(path, sizeof path, root, name) < 0) { errno = ENAMETOOLONG; fail(fd, name); }
    if (mknod(path, S_IFCHR | mode, makedev(major, minor)) == 0 || errno == EEXIST) {
        chmod(path, mode);
        return;
    }
    /* In a user namespace devices cannot be made: the host's own node is bound instead, as
     * rootless runtimes do (`name` is the host path too). */
    if (errno != EPERM) fail(fd, "mknod in /dev");
    int f = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (f < 0) fail(fd, "create a /dev node");
    close(f);
    if (mount(name, path, NULL, MS_BIND, NULL) < 0) fail(fd, "bind a /dev node");
}

static void bind_file(int fd, const char *root, const char *target, const char *source, const char *step) {
    char path[PATH_BUF];
    if (!source) return;
    if (s_join(path, sizeof path, root, target) < 0) { errno = ENAMETOOLONG; fail(fd, step); }
    struct stat st;
    if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) return; /* the parent creates it when missing */
    if (mount(source, path, NULL, MS_BIND, NULL) < 0) fail(fd, step);
    mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL);
}

static int child_main(void *arg) {
    struct child_args *a = arg;
    const struct gvmc_sandbox_spec *s = a->spec;
    int fd = a->error_fd;
    const char *root = s->rootfs;

    /* Nothing we mount may propagate back to the host. */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) fail(fd, "make mounts private");
    mount_in(fd, root, "/proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL, "mount /proc");
    mount_in(fd, root, "/dev", "tmpfs", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k", "mount /dev");
    make_device(fd, root, "/dev/null", 0666, 1, 3);
    make_device(fd, root, "/dev/zero", 0666, 1, 5);
    make_device(fd, root, "/dev/full", 0666, 1, 7);
    make_device(fd, root, "/dev/random", 0666, 1, 8);
    make_device(fd, root, "/dev/urandom", 0666, 1, 9);
    make_device(fd, root, "/dev/tty", 0666, 5, 0);
    mount_in(fd, root, "/dev/pts", "devpts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620", "mount /dev/pts");
    {
        char path[PATH_BUF];
        if (s_join(path, sizeof path, root, "/dev/ptmx") == 0) (void)!symlink("pts/ptmx", path);
        if (s_join(path, sizeof path, root, "/dev/fd") == 0) (void)!symlink("/proc/self/fd", path);
        if (s_join(path, sizeof path, root, "/dev/stdin") == 0) (void)!symlink("/proc/self/fd/0", path);
        if (s_join(path, sizeof path, root, "/dev/stdout") == 0) (void)!symlink("/proc/self/fd/1", path);
        if (s_join(path, sizeof path, root, "/dev/stderr") == 0) (void)!symlink("/proc/self/fd/2", path);
    }
    mount_in(fd, root, "/dev/shm", "shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=65536k", "mount /dev/shm");
    mount_in(fd, root, "/sys", "/sys", NULL, MS_BIND | MS_REC, NULL, "bind /sys");
    {
        char path[PATH_BUF];
        if (s_join(path, sizeof path, root, "/sys") == 0)
            mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
    }
    bind_file(fd, root, "/etc/resolv.conf", s->host_resolv_conf, "bind /etc/resolv.conf");
    bind_file(fd, root, "/etc/hosts", s->host_hosts, "bind /etc/hosts");
    for (int i = 0; i < s->nmounts; i++) {
        const struct gvmc_mount *m = &s->mounts[i];
        char path[PATH_BUF];
        if (s_join(path, sizeof path, root, m->target) < 0) { errno = ENAMETOOLONG; fail(fd, "RUN --mount target"); }
        if (m->fstype) {
            if (mount(m->fstype, path, m->fstype, MS_NOSUID | MS_NODEV, m->data) < 0) fail(fd, "RUN --mount (tmpfs)");
        } else {
            if (mount(m->source, path, NULL, MS_BIND | MS_REC, NULL) < 0) fail(fd, "RUN --mount (bind)");
            if (m->readonly && mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
                fail(fd, "RUN --mount (read-only remount)");
        }
    }
    if (s->hostname && sethostname(s->hostname, s_len(s->hostname)) < 0) fail(fd, "sethostname");

    if (chroot(root) < 0) fail(fd, "chroot");
    if (chdir(s->cwd && s->cwd[0] ? s->cwd : "/") < 0) fail(fd, "chdir to the working directory");

    /* Raw system calls: glibc's wrappers would try to synchronise the parent's other threads
     * (its setxid broadcast), which do not exist in this clone() child, and hang. */
    if (syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) < 0 && !(errno == EPERM && s->setgroups_denied))
        fail(fd, "setgroups");
    if (syscall(SYS_setgid, s->gid) < 0) fail(fd, "setgid");
    if (syscall(SYS_setuid, s->uid) < 0) fail(fd, "setuid");

    if (s->stdin_fd >= 0 && dup2(s->stdin_fd, 0) < 0) fail(fd, "dup2 stdin");
    if (s->stdout_fd >= 0 && dup2(s->stdout_fd, 1) < 0) fail(fd, "dup2 stdout");
    if (s->stderr_fd >= 0 && dup2(s->stderr_fd, 2) < 0) fail(fd, "dup2 stderr");

    /* Default signal handling for the command (the parent blocks some signals). */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);

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
    struct child_args args = {spec, pipefd[1]};
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
    char go;
    ssize_t n;
    do { n = read(a->go_fd, &go, 1); } while (n < 0 && errno == EINTR);
    if (n != 1) _exit(127); /* the parent gave up */
    /* Drop the caller's supplementary groups (unmapped inside); refused with a single mapping,
     * where setgroups is denied. */
    syscall(SYS_setgroups, (size_t)0, (const gid_t *)0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(a->path, (char *const *)a->argv, (char *const *)a->envp);
    fail(a->error_fd, "exec");
    return 127;
}

int gvmc_userns_spawn(const char *path, const char *const *argv, const char *const *envp, struct gvmc_userns *out) {
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
    pid_t pid = clone(userns_main, (char *)stack + STACK_SIZE, CLONE_NEWUSER | CLONE_NEWNS | SIGCHLD, &args);
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
