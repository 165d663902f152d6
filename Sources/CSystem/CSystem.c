#define _GNU_SOURCE
#include "CSystem.h"
#include <sys/xattr.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/loop.h>

ssize_t gvmc_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
ssize_t gvmc_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}
int gvmc_lsetxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}
int gvmc_lremovexattr(const char *path, const char *name) { return lremovexattr(path, name); }
const int gvmc_seek_data = SEEK_DATA;
const int gvmc_seek_hole = SEEK_HOLE;
const int gvmc_o_path = O_PATH;
ssize_t gvmc_copy_file_range(int in, int out, size_t len) { return copy_file_range(in, NULL, out, NULL, len, 0); }
ssize_t gvmc_copy_file_range_at(int in, off_t *in_offset, int out, off_t *out_offset, size_t len) {
    return copy_file_range(in, in_offset, out, out_offset, len, 0);
}
int gvmc_mount_overlay(const char *target, const char *options) {
    return mount("overlay", target, "overlay", MS_NOATIME, options);
}
/* The new mount API (Linux 5.2; overlay's "lowerdir+" since 6.8): each lower layer is its own
 * fsconfig call, so the page-sized limit of the mount(2) option string (about 60 layers at
 * cache paths' length) does not apply; overlay takes up to 500 layers. Paths need no escaping. */
#define GVMC_FSCONFIG_SET_FLAG 0
#define GVMC_FSCONFIG_SET_STRING 1
#define GVMC_FSCONFIG_CMD_CREATE 6
int gvmc_mount_overlay_layers(const char *target, const char *const *lowers, int count,
                              const char *upper, const char *work, int userxattr) {
    int fs = (int)syscall(SYS_fsopen, "overlay", 1 /* FSOPEN_CLOEXEC */);
    if (fs < 0) return -1;
    int rc = -1;
    for (int i = 0; i < count; i++)
        if (syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "lowerdir+", lowers[i], 0) < 0) goto out;
    if (upper && syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "upperdir", upper, 0) < 0) goto out;
    if (work && syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "workdir", work, 0) < 0) goto out;
    if (userxattr && syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0) goto out;
    /* An upper directory is a layer of its own (the step cache, its export): no redirects or
     * metacopy-only files whose content lives in other layers (userxattr turns both off). */
    if (upper && !userxattr && (syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "redirect_dir", "off", 0) < 0 ||
                                syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "metacopy", "off", 0) < 0)) goto out;
    if (syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) goto out;
    int mnt = (int)syscall(SYS_fsmount, fs, 1 /* FSMOUNT_CLOEXEC */, 0x10 /* MOUNT_ATTR_NOATIME */);
    if (mnt < 0) goto out;
    rc = (int)syscall(SYS_move_mount, mnt, "", AT_FDCWD, target, 4 /* MOVE_MOUNT_F_EMPTY_PATH */);
    int saved = errno;
    close(mnt);
    errno = saved;
out:;
    int saved_out = errno;
    close(fs);
    errno = saved_out;
    return rc;
}

/* Whether overlay takes "lowerdir+" (set with an existing directory; nothing is mounted). */
int gvmc_overlay_appends_layers(void) {
    int fs = (int)syscall(SYS_fsopen, "overlay", 1);
    if (fs < 0) return 0;
    int ok = syscall(SYS_fsconfig, fs, GVMC_FSCONFIG_SET_STRING, "lowerdir+", "/", 0) == 0;
    close(fs);
    return ok;
}

int gvmc_umount_detach(const char *target) { return umount2(target, MNT_DETACH); }
int gvmc_umount(const char *target) { return umount2(target, 0); }

int gvmc_loop_attach(const char *file, unsigned long long size_limit, char *device, size_t device_len) {
    int backing = open(file, O_RDONLY | O_CLOEXEC);
    if (backing < 0) return -1;
    int control = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (control < 0) { int e = errno; close(backing); errno = e; return -1; }
    int result = -1, e = EBUSY;
    /* Another process may take the free device between GET_FREE and CONFIGURE: try again. */
    for (int attempt = 0; attempt < 16 && result < 0; attempt++) {
        int n = ioctl(control, LOOP_CTL_GET_FREE);
        if (n < 0) { e = errno; break; }
        snprintf(device, device_len, "/dev/loop%d", n);
        int loop = open(device, O_RDONLY | O_CLOEXEC);
        if (loop < 0) { e = errno; break; }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned)backing;
        config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        config.info.lo_sizelimit = size_limit;
        if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) { result = loop; break; }
        e = errno;
        if (e == EINVAL || e == ENOTTY) {
            /* Before Linux 5.8: the two-step attach. */
            if (ioctl(loop, LOOP_SET_FD, backing) == 0) {
                struct loop_info64 info;
                memset(&info, 0, sizeof info);
                info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
                info.lo_sizelimit = size_limit;
                if (ioctl(loop, LOOP_SET_STATUS64, &info) == 0) { result = loop; break; }
                e = errno;
                ioctl(loop, LOOP_CLR_FD, 0);
            } else {
                e = errno;
            }
        }
        close(loop);
        if (e != EBUSY) break;
    }
    close(control);
    close(backing);
    if (result < 0) errno = e;
    return result;
}

struct relay {
    int listen_fd;
    int stop[2];
    struct sockaddr_un agent;
    pthread_t thread;
};

static int write_all(int fd, const char *p, ssize_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, (size_t)n);
        if (w < 0) { if (errno == EINTR) continue; return -1; }
        p += w; n -= w;
    }
    return 0;
}

static void *relay_pump(void *arg) {
    int *fds = arg;
    struct pollfd p[2] = {{.fd = fds[0], .events = POLLIN}, {.fd = fds[1], .events = POLLIN}};
    char buffer[16384];
    for (int open = 1; open;) {
        if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
        for (int i = 0; i < 2 && open; i++) {
            if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            ssize_t n = read(p[i].fd, buffer, sizeof buffer);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0 || write_all(p[1 - i].fd, buffer, n) < 0) open = 0;
        }
    }
    close(fds[0]);
    close(fds[1]);
    free(fds);
    return NULL;
}

static void *relay_accept(void *arg) {
    struct relay *r = arg;
    struct pollfd p[2] = {{.fd = r->listen_fd, .events = POLLIN}, {.fd = r->stop[0], .events = POLLIN}};
    for (;;) {
        if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
        if (p[1].revents) break;
        if (!(p[0].revents & POLLIN)) continue;
        int client = accept4(r->listen_fd, NULL, NULL, SOCK_CLOEXEC);
        if (client < 0) continue;
        int agent = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (agent < 0 || connect(agent, (struct sockaddr *)&r->agent, sizeof r->agent) < 0) {
            close(client);
            if (agent >= 0) close(agent);
            continue;
        }
        int *fds = malloc(2 * sizeof(int));
        pthread_attr_t attr;
        pthread_t t;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        if (!fds || (fds[0] = client, fds[1] = agent, pthread_create(&t, &attr, relay_pump, fds)) != 0) {
            close(client);
            close(agent);
            free(fds);
        }
        pthread_attr_destroy(&attr);
    }
    return NULL;
}

void *gvmc_relay_start(const char *listen_path, const char *agent_path) {
    struct sockaddr_un here = {.sun_family = AF_UNIX};
    if (strlen(listen_path) >= sizeof here.sun_path || strlen(agent_path) >= sizeof here.sun_path) {
        errno = ENAMETOOLONG;
        return NULL;
    }
    struct relay *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->agent.sun_family = AF_UNIX;
    strcpy(r->agent.sun_path, agent_path);
    strcpy(here.sun_path, listen_path);
    r->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (r->listen_fd < 0) { free(r); return NULL; }
    if (bind(r->listen_fd, (struct sockaddr *)&here, sizeof here) < 0 || listen(r->listen_fd, 16) < 0
        || pipe2(r->stop, O_CLOEXEC) < 0) {
        int e = errno;
        close(r->listen_fd);
        free(r);
        errno = e;
        return NULL;
    }
    int e = pthread_create(&r->thread, NULL, relay_accept, r);
    if (e != 0) {
        close(r->listen_fd); close(r->stop[0]); close(r->stop[1]);
        free(r);
        errno = e;
        return NULL;
    }
    return r;
}

void gvmc_relay_stop(void *handle) {
    struct relay *r = handle;
    if (!r) return;
    (void)!write(r->stop[1], "x", 1);
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
    close(r->stop[0]);
    close(r->stop[1]);
    free(r);
}

/* openat2(2)'s struct open_how and RESOLVE_* flags (glibc 2.36 has no wrapper). */
struct gvmc_open_how { unsigned long long flags, mode, resolve; };
#define GVMC_RESOLVE_NO_MAGICLINKS 0x02
#define GVMC_RESOLVE_IN_ROOT 0x10
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* The fallback walk: `dirs` is the stack of directories from `root` down (dirs[0] is a dup of
 * root, never closed by `..`); each component is opened O_PATH|O_NOFOLLOW below the top; a
 * symlink's target is pushed in front of the rest of the path. */
static int open_in_root_walk(int root, const char *path, int flags) {
    enum { max_depth = 256, max_path = 8192 };
    int dirs[max_depth];
    int depth = 0, hops = 0;
    char rest[max_path];
    if (strlen(path) >= sizeof rest) { errno = ENAMETOOLONG; return -1; }
    strcpy(rest, path);
    dirs[depth++] = fcntl(root, F_DUPFD_CLOEXEC, 0);
    if (dirs[0] < 0) return -1;
    int result = -1;
    char *p = rest;
    for (;;) {
        while (*p == '/') p++;
        if (!*p) { result = openat(dirs[depth - 1], ".", flags | O_CLOEXEC); break; }
        char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char name[256];
        if (len >= sizeof name) { errno = ENAMETOOLONG; break; }
        memcpy(name, p, len);
        name[len] = 0;
        p += len;
        int last = !end || !*(p + strspn(p, "/"));
        if (!strcmp(name, ".")) continue;
        if (!strcmp(name, "..")) { if (depth > 1) close(dirs[--depth]); continue; }
        int fd = openat(dirs[depth - 1], name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0) break;
        struct stat st;
        if (fstat(fd, &st) < 0) { close(fd); break; }
        if (S_ISLNK(st.st_mode)) {
            char target[4096];
            ssize_t n = readlinkat(fd, "", target, sizeof target - 1);
            close(fd);
            if (n < 0) break;
            target[n] = 0;
            if (++hops > 40) { errno = ELOOP; break; }
            if ((size_t)n + strlen(p) + 2 >= sizeof rest) { errno = ENAMETOOLONG; break; }
            char joined[max_path];
            snprintf(joined, sizeof joined, "%s/%s", target, p);
            strcpy(rest, joined);
            p = rest;
            if (target[0] == '/') while (depth > 1) close(dirs[--depth]);
            continue;
        }
        if (last) {
            close(fd);
            result = openat(dirs[depth - 1], name, flags | O_NOFOLLOW | O_CLOEXEC);
            break;
        }
        if (!S_ISDIR(st.st_mode)) { close(fd); errno = ENOTDIR; break; }
        if (depth == max_depth) { close(fd); errno = ENAMETOOLONG; break; }
        dirs[depth++] = fd;
    }
    int saved = errno;
    while (depth > 0) close(dirs[--depth]);
    errno = saved;
    return result;
}

int gvmc_open_in_root(int root, const char *path, int flags) {
    struct gvmc_open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC), .mode = 0,
                                .resolve = GVMC_RESOLVE_IN_ROOT | GVMC_RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, root, path, &how, sizeof how);
    if (fd >= 0 || (errno != ENOSYS && errno != EPERM)) return fd;
    /* No openat2 (Linux < 5.6, or a seccomp filter that refuses it). */
    return open_in_root_walk(root, path, flags);
}
