#define _GNU_SOURCE
#include "CDynamic.h"
#include "Loader.h"
#include <archive.h>
#include <archive_entry.h>
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

FN(curl_global_init); FN(curl_easy_init); FN(curl_easy_cleanup); FN(curl_easy_reset);
FN(curl_easy_setopt); FN(curl_easy_perform); FN(curl_easy_getinfo); FN(curl_easy_strerror);
FN(curl_slist_append); FN(curl_slist_free_all);
FN(archive_read_new); FN(archive_read_support_filter_all); FN(archive_read_support_format_tar);
FN(archive_read_open); FN(archive_read_next_header); FN(archive_read_data);
FN(archive_read_free); FN(archive_error_string);
FN(archive_entry_pathname); FN(archive_entry_hardlink); FN(archive_entry_symlink); FN(archive_entry_filetype);
FN(archive_entry_perm); FN(archive_entry_uid); FN(archive_entry_gid); FN(archive_entry_mtime);
FN(archive_entry_size); FN(archive_entry_size_is_set); FN(archive_entry_rdevmajor); FN(archive_entry_rdevminor);
FN(archive_entry_xattr_reset); FN(archive_entry_xattr_next); FN(archive_read_support_format_empty);

void *gv_open_first(const char *const *candidates, char *err, size_t errlen) {
    for (int i = 0; candidates[i]; i++) {
        void *lib = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
        if (lib) return lib;
    }
    const char *e = dlerror();
    snprintf(err, errlen, "cannot load %s (%s)", candidates[0], e ? e : "not found");
    return NULL;
}

int gv_bind(const char *const *libs, const char *const *names, void **const *slots, int count, char *err, size_t errlen) {
    void *lib = gv_open_first(libs, err, errlen);
    if (!lib) return -1;
    for (int i = 0; i < count; i++) {
        *slots[i] = dlsym(lib, names[i]);
        if (!*slots[i]) { snprintf(err, errlen, "%s lacks %s", libs[0], names[i]); return -1; }
    }
    return 0;
}

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static int curl_state, archive_state;      // 0 not tried, 1 loaded, -1 failed
static char curl_err[256], archive_err[256];

int gv_curl_load(char *err, size_t errlen) {
    pthread_mutex_lock(&load_lock);
    if (curl_state == 0) {
        static const char *const libs[] = {"libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.so", NULL};
        static const char *const names[] = {"curl_global_init", "curl_easy_init", "curl_easy_cleanup", "curl_easy_reset",
            "curl_easy_setopt", "curl_easy_perform", "curl_easy_getinfo", "curl_easy_strerror", "curl_slist_append",
            "curl_slist_free_all"};
        void **slots[] = {SLOT(curl_global_init), SLOT(curl_easy_init), SLOT(curl_easy_cleanup), SLOT(curl_easy_reset),
            SLOT(curl_easy_setopt), SLOT(curl_easy_perform), SLOT(curl_easy_getinfo), SLOT(curl_easy_strerror),
            SLOT(curl_slist_append), SLOT(curl_slist_free_all)};
        int ok = gv_bind(libs, names, slots, (int)(sizeof names / sizeof *names), curl_err, sizeof curl_err) == 0;
        if (ok && p_curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            snprintf(curl_err, sizeof curl_err, "curl_global_init failed"); ok = 0;
        }
        curl_state = ok ? 1 : -1;
    }
    int state = curl_state;
    pthread_mutex_unlock(&load_lock);
    if (state < 0) { snprintf(err, errlen, "%s", curl_err); return -1; }
    return 0;
}

int gv_archive_load(char *err, size_t errlen) {
    pthread_mutex_lock(&load_lock);
    if (archive_state == 0) {
        static const char *const libs[] = {"libarchive.so.13", "libarchive.so", NULL};
        static const char *const names[] = {"archive_read_new", "archive_read_support_filter_all",
            "archive_read_support_format_tar", "archive_read_open", "archive_read_next_header", "archive_read_data",
            "archive_read_free", "archive_error_string", "archive_entry_pathname", "archive_entry_hardlink", "archive_entry_symlink",
            "archive_entry_filetype", "archive_entry_perm", "archive_entry_uid", "archive_entry_gid",
            "archive_entry_mtime", "archive_entry_size", "archive_entry_size_is_set", "archive_entry_rdevmajor",
            "archive_entry_rdevminor", "archive_entry_xattr_reset", "archive_entry_xattr_next",
            "archive_read_support_format_empty"};
        void **slots[] = {SLOT(archive_read_new), SLOT(archive_read_support_filter_all),
            SLOT(archive_read_support_format_tar), SLOT(archive_read_open), SLOT(archive_read_next_header),
            SLOT(archive_read_data), SLOT(archive_read_free), SLOT(archive_error_string),
            SLOT(archive_entry_pathname),
            SLOT(archive_entry_hardlink), SLOT(archive_entry_symlink), SLOT(archive_entry_filetype),
            SLOT(archive_entry_perm), SLOT(archive_entry_uid), SLOT(archive_entry_gid), SLOT(archive_entry_mtime),
            SLOT(archive_entry_size), SLOT(archive_entry_size_is_set), SLOT(archive_entry_rdevmajor),
            SLOT(archive_entry_rdevminor), SLOT(archive_entry_xattr_reset), SLOT(archive_entry_xattr_next),
            SLOT(archive_read_support_format_empty)};
        int ok = gv_bind(libs, names, slots, (int)(sizeof names / sizeof *names), archive_err, sizeof archive_err) == 0;
        archive_state = ok ? 1 : -1;
    }
    int state = archive_state;
    pthread_mutex_unlock(&load_lock);
    if (state < 0) { snprintf(err, errlen, "%s", archive_err); return -1; }
    return 0;
}

// ---- HTTP ----

typedef struct { gv_data_cb cb; void *ctx; } sink;
static size_t write_thunk(char *data, size_t size, size_t n, void *userdata) {
    sink *s = userdata;
    return s->cb ? s->cb(s->ctx, data, size * n) : size * n;
}

void *gv_http_new(void) { return p_curl_easy_init(); }
void gv_http_free(void *handle) { if (handle) p_curl_easy_cleanup(handle); }

int gv_http_perform(void *handle, const gv_http_request *req, gv_http_response *resp) {
    CURL *c = handle;
    p_curl_easy_reset(c);
    memset(resp, 0, sizeof *resp);
    char errbuf[CURL_ERROR_SIZE] = {0};
    struct curl_slist *headers = NULL;
    for (int i = 0; i < req->header_count; i++) headers = p_curl_slist_append(headers, req->headers[i]);
    sink body_sink = {req->on_data, req->ctx}, header_sink = {req->on_header, req->ctx};
    p_curl_easy_setopt(c, CURLOPT_URL, req->url);
    p_curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    p_curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    p_curl_easy_setopt(c, CURLOPT_USERAGENT, "gvmc/0.1");
    p_curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    p_curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_thunk);
    p_curl_easy_setopt(c, CURLOPT_WRITEDATA, &body_sink);
    p_curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, write_thunk);
    p_curl_easy_setopt(c, CURLOPT_HEADERDATA, &header_sink);
    // Redirects (blob storage): curl drops our Authorization header when the host changes.
    p_curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, req->follow_redirects ? 1L : 0L);
    p_curl_easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
    p_curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    p_curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    p_curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, req->connect_timeout_s > 0 ? req->connect_timeout_s : 30L);
    if (req->low_speed_time_s > 0) {
        p_curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        p_curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, req->low_speed_time_s);
    }
    if (req->timeout_s > 0) p_curl_easy_setopt(c, CURLOPT_TIMEOUT, req->timeout_s);
    if (!req->tls_verify) {
        p_curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        p_curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (req->resume_from > 0) p_curl_easy_setopt(c, CURLOPT_RESUME_FROM_LARGE, (curl_off_t)req->resume_from);
    if (strcmp(req->method, "HEAD") == 0) {
        p_curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (strcmp(req->method, "GET") != 0) {
        // Every other method sends its body (maybe empty, then with Content-Length: 0, which
        // registries want on a closing PUT) the way POST does; curl does not copy it.
        p_curl_easy_setopt(c, CURLOPT_POST, 1L);
        p_curl_easy_setopt(c, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        p_curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        if (strcmp(req->method, "POST") != 0) p_curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, req->method);
    }
    CURLcode rc = p_curl_easy_perform(c);
    p_curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
    resp->curl_code = (int)rc;
    if (rc != CURLE_OK)
        snprintf(resp->error, sizeof resp->error, "%s", errbuf[0] ? errbuf : p_curl_easy_strerror(rc));
    p_curl_slist_free_all(headers);
    return rc == CURLE_OK ? 0 : -1;
}


// ---- tar ----

typedef struct { gv_read_cb read; void *ctx; struct archive *a; struct archive_entry *entry; } tar_reader;
static la_ssize_t read_thunk(struct archive *a, void *userdata, const void **buffer) {
    (void)a;
    tar_reader *r = userdata;
    return r->read(r->ctx, buffer);
}

void *gv_tar_open(gv_read_cb read, void *ctx, char *err, size_t errlen) {
    tar_reader *r = calloc(1, sizeof *r);
    if (!r) { snprintf(err, errlen, "out of memory"); return NULL; }
    r->read = read; r->ctx = ctx;
    r->a = p_archive_read_new();
    p_archive_read_support_filter_all(r->a);
    p_archive_read_support_format_tar(r->a);
    p_archive_read_support_format_empty(r->a);
    if (p_archive_read_open(r->a, r, NULL, read_thunk, NULL) != ARCHIVE_OK) {
        snprintf(err, errlen, "%s", p_archive_error_string(r->a) ? p_archive_error_string(r->a) : "cannot open archive");
        p_archive_read_free(r->a);
        free(r);
        return NULL;
    }
    return r;
}

int gv_tar_next(void *reader, gv_tar_entry *out) {
    tar_reader *r = reader;
    struct archive_entry *e;
    int rc = p_archive_read_next_header(r->a, &e);
    if (rc == ARCHIVE_EOF) return 0;
    if (rc < ARCHIVE_WARN) return -1;
    out->path = p_archive_entry_pathname(e);
    out->hardlink = p_archive_entry_hardlink(e);
    out->symlink = p_archive_entry_filetype(e) == AE_IFLNK ? p_archive_entry_symlink(e) : NULL;
    out->filetype = p_archive_entry_filetype(e);
    out->mode = p_archive_entry_perm(e);
    out->uid = p_archive_entry_uid(e);
    out->gid = p_archive_entry_gid(e);
    out->mtime = p_archive_entry_mtime(e);
    out->size = p_archive_entry_size_is_set(e) ? p_archive_entry_size(e) : 0;
    out->rdev_major = p_archive_entry_rdevmajor(e);
    out->rdev_minor = p_archive_entry_rdevminor(e);
    if (!out->path) return -1;
    r->entry = e;
    p_archive_entry_xattr_reset(e);
    return 1;
}

int gv_tar_xattr_next(void *reader, const char **name, const void **value, size_t *size) {
    tar_reader *r = reader;
    if (!r->entry) return 0;
    return p_archive_entry_xattr_next(r->entry, name, value, size) == ARCHIVE_OK;
}

ssize_t gv_tar_read(void *reader, void *buffer, size_t len) {
    return p_archive_read_data(((tar_reader *)reader)->a, buffer, len);
}

const char *gv_tar_error(void *reader) {
    const char *e = p_archive_error_string(((tar_reader *)reader)->a);
    return e ? e : "unknown archive error";
}

void gv_tar_close(void *reader) {
    tar_reader *r = reader;
    if (!r) return;
    p_archive_read_free(r->a);
    free(r);
}
