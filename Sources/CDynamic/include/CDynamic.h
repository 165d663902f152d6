// libcurl, libarchive and libssh, loaded with dlopen on first use. Linking them normally costs every
// gvmc process ~10 ms of dynamic loading (44 shared objects), which commands like `lint` never need.
// Swift also cannot call curl_easy_setopt (variadic), so the calls live here as plain functions.
#ifndef GVMC_CDYNAMIC_H
#define GVMC_CDYNAMIC_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/// Loads the library; 0 on success, else -1 with a message in err.
int gv_curl_load(char *err, size_t errlen);
int gv_archive_load(char *err, size_t errlen);
int gv_ssh_load(char *err, size_t errlen);

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

// ---- SSH (libssh; SSH.c) ----
/// One SSH connection running one command (libssh's session and channel).
typedef struct gv_ssh gv_ssh;

typedef struct {
    int fd;                 // a connected socket; libssh's from gv_ssh_connect on (closed on failure too)
    const char *host;       // for libssh's messages
    int port;
    const char *user;
    const char *host_keys;  // the host key algorithms to offer, comma-separated, preferred first
    long timeout_s;         // how long any one wait for the server may last
    uint64_t rekey_bytes;   // re-key after this many bytes each way (0: libssh's default)
} gv_ssh_options;

/// Version exchange and key exchange; NULL with a message in err.
gv_ssh *gv_ssh_connect(const gv_ssh_options *options, char *err, size_t errlen);
/// The host key the first key exchange showed: its wire form in base64, as known_hosts has it.
const char *gv_ssh_host_key(gv_ssh *s);
/// Signs in with every key of the agent at `agent_socket` in turn: 0 signed in, 1 no key was
/// accepted, 2 partial success (the server wants more), -1 an error (err).
int gv_ssh_auth_agent(gv_ssh *s, const char *agent_socket, char *err, size_t errlen);
/// Opens a session channel and runs `command`; 0, or -1 with a message in err.
int gv_ssh_exec(gv_ssh *s, const char *command, char *err, size_t errlen);
/// The command's next output: > 0 bytes, 0 at its end or after the timeout without data
/// (gv_ssh_eof tells which), -1 an error (err), GV_SSH_HOST_KEY_CHANGED when a re-key showed
/// another host key than the first exchange.
#define GV_SSH_HOST_KEY_CHANGED (-3)
long gv_ssh_read(gv_ssh *s, void *buf, size_t len, char *err, size_t errlen);
/// What the command wrote to stderr and has arrived, without waiting.
long gv_ssh_read_stderr(gv_ssh *s, void *buf, size_t len);
/// Whether the command's output has ended (the server sent EOF and all of it was read).
int gv_ssh_eof(gv_ssh *s);
/// Sends all of buf to the command's stdin; 0, or -1 with a message in err.
int gv_ssh_write(gv_ssh *s, const void *buf, size_t len, char *err, size_t errlen);
/// Closes the connection and frees everything.
void gv_ssh_free(gv_ssh *s);

#endif
