#define _GNU_SOURCE
#include "CSystem.h"
#include <sys/xattr.h>
#include <unistd.h>
#include <sys/mount.h>

ssize_t gvmc_llistxattr(const char *path, char *list, size_t size) { return llistxattr(path, list, size); }
ssize_t gvmc_lgetxattr(const char *path, const char *name, void *value, size_t size) {
    return lgetxattr(path, name, value, size);
}
int gvmc_lsetxattr(const char *path, const char *name, const void *value, size_t size) {
    return lsetxattr(path, name, value, size, 0);
}
const int gvmc_seek_data = SEEK_DATA;
const int gvmc_seek_hole = SEEK_HOLE;
ssize_t gvmc_copy_file_range(int in, int out, size_t len) { return copy_file_range(in, NULL, out, NULL, len, 0); }
int gvmc_mount_overlay(const char *target, const char *options) {
    return mount("overlay", target, "overlay", MS_NOATIME, options);
}
int gvmc_umount_detach(const char *target) { return umount2(target, MNT_DETACH); }
