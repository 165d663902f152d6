// libssh (Debian's libssh-4), loaded with dlopen by git over SSH only: one session on a socket
// the caller connected, signing in through an SSH agent, running one command on one channel.
// The key exchange, ciphers, re-keying (the server's and ours) and channel flow control are
// libssh's; gvmc decides which host keys to offer and whether the one shown is accepted.
#define _GNU_SOURCE
#include "CDynamic.h"
#include "Loader.h"
#include <libssh/libssh.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

FN(ssh_init); FN(ssh_new); FN(ssh_free); FN(ssh_options_set); FN(ssh_connect); FN(ssh_silent_disconnect);
FN(ssh_get_error); FN(ssh_get_server_publickey); FN(ssh_key_free); FN(ssh_key_cmp);
FN(ssh_pki_export_pubkey_base64); FN(ssh_string_free_char);
FN(ssh_userauth_agent); FN(ssh_channel_new); FN(ssh_channel_open_session); FN(ssh_channel_request_exec);
FN(ssh_channel_read); FN(ssh_channel_read_nonblocking); FN(ssh_channel_write); FN(ssh_channel_is_eof);

static pthread_mutex_t ssh_lock = PTHREAD_MUTEX_INITIALIZER;
static int ssh_state;  // 0 not tried, 1 loaded, -1 failed
static char ssh_err[256];

int gv_ssh_load(char *err, size_t errlen) {
    pthread_mutex_lock(&ssh_lock);
    if (ssh_state == 0) {
        static const char *const libs[] = {"libssh.so.4", "libssh.so", NULL};
        static const char *const names[] = {"ssh_init", "ssh_new", "ssh_free", "ssh_options_set", "ssh_connect",
            "ssh_silent_disconnect", "ssh_get_error", "ssh_get_server_publickey", "ssh_key_free", "ssh_key_cmp",
            "ssh_pki_export_pubkey_base64", "ssh_string_free_char", "ssh_userauth_agent",
            "ssh_channel_new", "ssh_channel_open_session", "ssh_channel_request_exec", "ssh_channel_read",
            "ssh_channel_read_nonblocking", "ssh_channel_write", "ssh_channel_is_eof"};
        void **slots[] = {SLOT(ssh_init), SLOT(ssh_new), SLOT(ssh_free), SLOT(ssh_options_set), SLOT(ssh_connect),
            SLOT(ssh_silent_disconnect), SLOT(ssh_get_error), SLOT(ssh_get_server_publickey), SLOT(ssh_key_free), SLOT(ssh_key_cmp),
            SLOT(ssh_pki_export_pubkey_base64), SLOT(ssh_string_free_char),
            SLOT(ssh_userauth_agent), SLOT(ssh_channel_new), SLOT(ssh_channel_open_session),
            SLOT(ssh_channel_request_exec), SLOT(ssh_channel_read), SLOT(ssh_channel_read_nonblocking),
            SLOT(ssh_channel_write), SLOT(ssh_channel_is_eof)};
        int ok = gv_bind(libs, names, slots, (int)(sizeof names / sizeof *names), ssh_err, sizeof ssh_err) == 0;
        if (ok && p_ssh_init() != SSH_OK) { snprintf(ssh_err, sizeof ssh_err, "ssh_init failed"); ok = 0; }
        ssh_state = ok ? 1 : -1;
    }
    int state = ssh_state;
    pthread_mutex_unlock(&ssh_lock);
    if (state < 0) { snprintf(err, errlen, "%s", ssh_err); return -1; }
    return 0;
}

struct gv_ssh {
    ssh_session session;
    ssh_channel channel;      // freed with the session
    ssh_key first_key;        // the host key of the first key exchange
    char *key_base64;         // its wire form in base64, as known_hosts lists keys
};

static void fail(gv_ssh *s, char *err, size_t errlen) {
    const char *e = p_ssh_get_error(s->session);
    snprintf(err, errlen, "%s", e && *e ? e : "unknown libssh error");
}

void gv_ssh_free(gv_ssh *s) {
    if (!s) return;
    // The socket is libssh's from ssh_connect on: it closes it on some errors and forgets it
    // then, so only libssh may close it. A silent disconnect closes it without waiting for a
    // server that may be gone (the old transport closed the socket too), then frees the
    // channel with the session.
    p_ssh_silent_disconnect(s->session);
    p_ssh_free(s->session);
    if (s->first_key) p_ssh_key_free(s->first_key);
    if (s->key_base64) p_ssh_string_free_char(s->key_base64);
    free(s);
}

gv_ssh *gv_ssh_connect(const gv_ssh_options *o, char *err, size_t errlen) {
    gv_ssh *s = calloc(1, sizeof *s);
    if (!s || !(s->session = p_ssh_new())) {
        snprintf(err, errlen, "out of memory");
        close(o->fd);
        free(s);
        return NULL;
    }
    ssh_session ss = s->session;
    socket_t fd = o->fd;
    long timeout = o->timeout_s;
    int port = o->port;
    bool no = false;
    uint64_t rekey = o->rekey_bytes;
    // Nothing of ~/.ssh/config or libssh's own known_hosts reading: the host key policy is the
    // caller's (its known_hosts files and the order of `host_keys`).
    if (p_ssh_options_set(ss, SSH_OPTIONS_FD, &fd) < 0 || p_ssh_options_set(ss, SSH_OPTIONS_HOST, o->host) < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_PORT, &port) < 0 || p_ssh_options_set(ss, SSH_OPTIONS_USER, o->user) < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_KNOWNHOSTS, "/dev/null") < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_HOSTKEYS, o->host_keys) < 0
        || p_ssh_options_set(ss, SSH_OPTIONS_TIMEOUT, &timeout) < 0
        || (rekey > 0 && p_ssh_options_set(ss, SSH_OPTIONS_REKEY_DATA, &rekey) < 0)) {
        fail(s, err, errlen);
        close(o->fd);  // not libssh's yet
        gv_ssh_free(s);
        return NULL;
    }
    if (p_ssh_connect(ss) != SSH_OK || p_ssh_get_server_publickey(ss, &s->first_key) != SSH_OK
        || p_ssh_pki_export_pubkey_base64(s->first_key, &s->key_base64) != SSH_OK) {
        fail(s, err, errlen);
        gv_ssh_free(s);
        return NULL;
    }
    return s;
}

const char *gv_ssh_host_key(gv_ssh *s) { return s->key_base64; }

int gv_ssh_auth_agent(gv_ssh *s, const char *agent_socket, char *err, size_t errlen) {
    if (p_ssh_options_set(s->session, SSH_OPTIONS_IDENTITY_AGENT, agent_socket) < 0) { fail(s, err, errlen); return -1; }
    switch (p_ssh_userauth_agent(s->session, NULL)) {
    case SSH_AUTH_SUCCESS: return 0;
    case SSH_AUTH_DENIED: return 1;
    case SSH_AUTH_PARTIAL: return 2;
    default: fail(s, err, errlen); return -1;
    }
}

int gv_ssh_exec(gv_ssh *s, const char *command, char *err, size_t errlen) {
    s->channel = p_ssh_channel_new(s->session);
    if (!s->channel || p_ssh_channel_open_session(s->channel) != SSH_OK) { fail(s, err, errlen); return -1; }
    if (p_ssh_channel_request_exec(s->channel, command) != SSH_OK) { fail(s, err, errlen); return -1; }
    return 0;
}

/// Whether the server still shows the host key of the first exchange (a re-key may not change it).
static int same_host_key(gv_ssh *s) {
    ssh_key now = NULL;
    if (p_ssh_get_server_publickey(s->session, &now) != SSH_OK) return 0;
    int same = p_ssh_key_cmp(now, s->first_key, SSH_KEY_CMP_PUBLIC) == 0;
    p_ssh_key_free(now);
    return same;
}

long gv_ssh_read(gv_ssh *s, void *buf, size_t len, char *err, size_t errlen) {
    int n = p_ssh_channel_read(s->channel, buf, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len), 0);
    if (n < 0) { fail(s, err, errlen); return -1; }
    if (!same_host_key(s)) return GV_SSH_HOST_KEY_CHANGED;
    return n;
}

long gv_ssh_read_stderr(gv_ssh *s, void *buf, size_t len) {
    int n = p_ssh_channel_read_nonblocking(s->channel, buf, (uint32_t)(len > UINT32_MAX ? UINT32_MAX : len), 1);
    return n < 0 ? 0 : n;
}

int gv_ssh_eof(gv_ssh *s) { return p_ssh_channel_is_eof(s->channel) == 1; }

int gv_ssh_write(gv_ssh *s, const void *buf, size_t len, char *err, size_t errlen) {
    const unsigned char *p = buf;
    while (len > 0) {
        uint32_t part = len > (1u << 30) ? (1u << 30) : (uint32_t)len;
        int n = p_ssh_channel_write(s->channel, p, part);
        if (n <= 0) { fail(s, err, errlen); return -1; }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
