#include "CDigest.h"
#include <string.h>

int gvmc_is_zero(const void *data, size_t len) {
    const unsigned char *p = data;
    /* Check 64 bytes at a time by OR-ing words; the compiler vectorises this. */
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        unsigned long long w[8];
        memcpy(w, p + i, 64);
        if (w[0] | w[1] | w[2] | w[3] | w[4] | w[5] | w[6] | w[7]) return 0;
    }
    for (; i < len; i++)
        if (p[i]) return 0;
    return 1;
}

int gvmc_is_ascii(const void *data, size_t len) {
    const unsigned char *p = data;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        unsigned long long w;
        memcpy(&w, p + i, 8);
        if (w & 0x8080808080808080ULL) return 0;
    }
    for (; i < len; i++)
        if (p[i] & 0x80) return 0;
    return 1;
}
