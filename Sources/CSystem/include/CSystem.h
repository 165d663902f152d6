/* System calls and constants Swift's Glibc module does not expose (xattrs, SEEK_DATA/SEEK_HOLE).
 * Thin wrappers only: all policy stays in Swift. */
#ifndef GVMC_CSYSTEM_H
#define GVMC_CSYSTEM_H
#include <sys/types.h>
#include <fts.h>

ssize_t gvmc_llistxattr(const char *path, char *list, size_t size);
ssize_t gvmc_lgetxattr(const char *path, const char *name, void *value, size_t size);
int gvmc_lsetxattr(const char *path, const char *name, const void *value, size_t size);
int gvmc_lremovexattr(const char *path, const char *name);
extern const int gvmc_seek_data;
extern const int gvmc_seek_hole;

/// copy_file_range(2) without offsets (glibc declares it only with _GNU_SOURCE).
ssize_t gvmc_copy_file_range(int in, int out, size_t len);
/// copy_file_range(2) between explicit offsets (advanced by the call); the descriptors' own
/// file offsets are not used.
ssize_t gvmc_copy_file_range_at(int in, off_t *in_offset, int out, off_t *out_offset, size_t len);

/// An overlay mount of `lower` (read-only) under `upper` at `target`; `options` is the mount
/// data ("lowerdir=...,upperdir=...,workdir=..."). Returns 0 or -1 with errno.
int gvmc_mount_overlay(const char *target, const char *options);
int gvmc_mount_overlay_layers(const char *target, const char *const *lowers, int count,
                              const char *upper, const char *work, int userxattr);
int gvmc_overlay_appends_layers(void);
/// umount2(target, MNT_DETACH).
int gvmc_umount_detach(const char *target);
/// umount2(target, 0): fails with EBUSY while anything uses the mount.
int gvmc_umount(const char *target);

/// RUN --mount=type=ssh: a Unix socket listening at `listen_path` whose every connection is
/// relayed, byte for byte in both directions, to the SSH agent socket at `agent_path`. One
/// thread accepts, one thread per connection copies. Returns a handle, or NULL with errno.
void *gvmc_relay_start(const char *listen_path, const char *agent_path);
/// Stops accepting and closes the listening socket; connections end when either side closes
/// (the sandbox's processes are gone after the step).
void gvmc_relay_stop(void *handle);
/// Opens `path` as if `root` (a directory descriptor) were "/": symlinks, absolute or not, and
/// `..` never leave it (openat2 with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, Linux 5.6). On
/// kernels without openat2 the same walk is done component by component, each one opened with
/// O_NOFOLLOW and symlink targets re-walked from `root`. Returns a descriptor or -1 with errno
/// (ELOOP after 40 symlinks).
int gvmc_open_in_root(int root, const char *path, int flags);
extern const int gvmc_o_path;

/// Attaches `file` read-only to a free loop device, its first `size_limit` bytes only (0: all),
/// with autoclear (the device detaches itself once its last mount and descriptor are gone).
/// Writes the device's path into `device` and returns an open descriptor for it (close it after
/// mounting), or -1 with errno.
int gvmc_loop_attach(const char *file, unsigned long long size_limit, char *device, size_t device_len);
#endif
