/* The RUN sandbox's process side: create a child in new mount, PID, IPC, UTS (and optionally
 * network) namespaces, set up /proc (masked and read-only kernel files as runc does), a minimal
 * /dev, a read-only /sys and the host's resolv.conf/hosts, every mount target resolved inside the
 * root; pivot_root into the stage's root filesystem (nodev) and detach the host's; close gvmc's
 * descriptors; drop to Docker's default capabilities and seccomp profile; switch user and exec.
 *
 * Why C: between clone() and execve() a multi-threaded Swift process may only make
 * async-signal-safe calls. Everything is prepared by the parent (all strings, all paths); the
 * child only issues system calls and writes a fixed error record to a pipe if a step fails. */
#ifndef GVMC_CSANDBOX_H
#define GVMC_CSANDBOX_H
#include <sys/types.h>

/* A mount for one RUN step (RUN --mount): a bind mount of a host path, or a fresh filesystem. */
struct gvmc_mount {
    const char *source;           /* host path for bind mounts */
    const char *target;           /* absolute path inside the rootfs; the parent created it */
    const char *fstype;           /* NULL: bind mount; else e.g. "tmpfs" */
    const char *data;             /* mount options for fstype (e.g. "size=65536k") */
    int readonly;
};

struct gvmc_sandbox_spec {
    const char *rootfs;           /* absolute path of the stage's root filesystem */
    const char *const *argv;      /* NULL-terminated; argv[0] is looked up in PATH if relative */
    const char *exec_path;        /* when not NULL: the file exec'd as is, with no PATH search (Golem's
                                   * runtime); a relative path is relative to cwd */
    const char *const *envp;      /* NULL-terminated */
    const char *path_env;         /* the PATH value used to find argv[0] ("" = none) */
    const char *cwd;              /* working directory inside the rootfs */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;          /* supplementary groups */
    int ngroups;
    int new_network;              /* 1: empty network namespace (--network none) */
    int loopback_up;              /* with new_network: bring `lo` up (127.0.0.1), as Golem's guest init does */
    const char *hostname;         /* UTS hostname */
    const char *host_resolv_conf; /* bind-mounted read-only over <rootfs>/etc/resolv.conf when not NULL */
    const char *host_hosts;       /* bind-mounted read-only over <rootfs>/etc/hosts when not NULL */
    int stdin_fd, stdout_fd, stderr_fd;
    const struct gvmc_mount *mounts; /* RUN --mount, in order */
    int nmounts;
    int setgroups_denied;         /* 1: a user namespace with one mapped id, where setgroups is refused */
};

/* Starts the sandboxed process. Returns its pid (> 0), or -1 with `error` (size `error_len`)
 * describing the failed step (e.g. "mount /proc: Operation not permitted"). */
pid_t gvmc_sandbox_spawn(const struct gvmc_sandbox_spec *spec, char *error, size_t error_len);

/* The kernel's Landlock ABI version (0: none). From 6 on, steps are scoped away from the host's
 * abstract Unix sockets. */
int gvmc_landlock_abi(void);

/* Waits for the process; returns the exit status (0-255), or 128+signal. */
int gvmc_sandbox_wait(pid_t pid);

/* Builds: `path` (the gvmc binary) re-executed in a new mount namespace (its mounts die with it;
 * it dies with the caller), and for unprivileged builds a new user namespace. The child waits
 * until the parent has written its uid/gid maps (as root inside, the caller outside), then execs. */
struct gvmc_userns {
    pid_t pid;
    int go_fd;      /* one byte written here releases the child */
    int error_fd;   /* an errno record if the exec fails; closed by a successful exec */
};

/* Starts the waiting child. Returns 0, or -1 with errno (EPERM, ENOSPC, EINVAL: user namespaces
 * are refused or missing). */
int gvmc_userns_spawn(const char *path, const char *const *argv, const char *const *envp, int new_user, struct gvmc_userns *out);

/* Releases the child (`go` = 1) or makes it exit (`go` = 0). Returns 0 once it has exec'd, or
 * the errno of the failed exec (ECANCELED when not released); the child is reaped then. */
int gvmc_userns_start(struct gvmc_userns *u, int go);

/* Starts `path` (no PATH search) with its standard streams on the given descriptors (-1: keep
 * gvmc's), in its own process group, killed when the calling thread's process dies (even by
 * SIGKILL): how gvmc run --vm starts qemu. Returns the pid, or -1 with errno. */
pid_t gvmc_spawn_tied(const char *path, const char *const *argv, const char *const *envp, int stdin_fd, int stdout_fd, int stderr_fd);

#endif
