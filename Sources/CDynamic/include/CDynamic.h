// libcurl and libarchive, loaded with dlopen on first use. Linking them normally costs every gvmc
// process ~10 ms of dynamic loading (44 shared objects), which commands like `lint` never need.
// Swift also cannot call curl_easy_setopt (variadic), so the calls live here as plain functions.
#ifndef GVMC_CDYNAMIC_H
#define GVMC_CDYNAMIC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Loads the library; 0 on success, else -1 with a message in err.
int gv_curl_load(char *err, size_t errlen);
int gv_archive_load(char *err, size_t errlen);

// ---- HTTP (libcurl) ----
typedef size_t (*gv_data_cb)(void *ctx, const char *data, size_t len);

typedef struct {
    const char *method;          // "GET", "HEAD", "POST", "PUT", "PATCH", ...
    const char *url;
    const char *const *headers;  // "Name: value" lines
    int header_count;
    const void *body;
    size_t body_len;
    int64_t resume_from;         // > 0: Range request from this offset
    int tls_verify;              // 0 for --insecure-registry https
    int follow_redirects;
    long connect_timeout_s;
    long low_speed_time_s;       // abort when below 1 KiB/s for this long (0: never)
    long timeout_s;              // the whole transfer (0: no limit)
    gv_data_cb on_data;
    gv_data_cb on_header;        // one call per header line
    void *ctx;
} gv_http_request;

typedef struct {
    long status;
    int curl_code;               // CURLE_*; 0 when the transfer completed
    char error[256];
} gv_http_response;

void *gv_http_new(void);
void gv_http_free(void *handle);
/// Runs one request on a reusable handle (keeps connections alive between calls).
int gv_http_perform(void *handle, const gv_http_request *req, gv_http_response *resp);

// ---- tar reading (libarchive) ----
typedef ssize_t (*gv_read_cb)(void *ctx, const void **buffer);

typedef struct {
    const char *path;        // raw bytes, NUL-terminated
    const char *hardlink;    // NULL unless a hardlink
    const char *symlink;     // NULL unless a symlink
    unsigned filetype;       // S_IFREG, S_IFDIR, ...
    unsigned mode;           // permission bits incl. setuid/setgid/sticky
    int64_t uid, gid;
    int64_t mtime;
    int64_t size;
    unsigned rdev_major, rdev_minor;
} gv_tar_entry;

void *gv_tar_open(gv_read_cb read, void *ctx, char *err, size_t errlen);
/// 1: an entry is in *out; 0: end of archive; -1: error (gv_tar_error).
int gv_tar_next(void *reader, gv_tar_entry *out);
/// Next extended attribute of the current entry; 0 when there are no more.
int gv_tar_xattr_next(void *reader, const char **name, const void **value, size_t *size);
ssize_t gv_tar_read(void *reader, void *buffer, size_t len);
const char *gv_tar_error(void *reader);
void gv_tar_close(void *reader);

#endif
