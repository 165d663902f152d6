/* SHA3-224 (FIPS 202): Keccak-f[1600] sponge, rate 144 bytes, domain suffix 0x06. */
#include "CDigest.h"
#include <string.h>

static const uint64_t RC[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808AULL, 0x8000000080008000ULL,
    0x000000000000808BULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008AULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000AULL,
    0x000000008000808BULL, 0x800000000000008BULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800AULL, 0x800000008000000AULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};
static const int ROT[25] = {0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14};

#define ROL(x, n) ((n) == 0 ? (x) : (((x) << (n)) | ((x) >> (64 - (n)))))

static void keccak(uint64_t a[25]) {
    for (int round = 0; round < 24; round++) {
        uint64_t c[5], b[25];
        for (int x = 0; x < 5; x++) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
        for (int x = 0; x < 5; x++) {
            uint64_t d = c[(x + 4) % 5] ^ ROL(c[(x + 1) % 5], 1);
            for (int y = 0; y < 25; y += 5) a[y + x] ^= d;
        }
        for (int x = 0; x < 5; x++)
            for (int y = 0; y < 5; y++)
                b[y + 5 * ((2 * x + 3 * y) % 5)] = ROL(a[x + 5 * y], ROT[x + 5 * y]);
        for (int y = 0; y < 25; y += 5)
            for (int x = 0; x < 5; x++) a[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);
        a[0] ^= RC[round];
    }
}

static void absorb(gvmc_sha3_224_ctx *ctx, const uint8_t *block) {
    for (int i = 0; i < 18; i++) {
        uint64_t lane;
        memcpy(&lane, block + 8 * i, 8); /* little-endian host */
        ctx->state[i] ^= lane;
    }
    keccak(ctx->state);
}

void gvmc_sha3_224_init(gvmc_sha3_224_ctx *ctx) { memset(ctx, 0, sizeof *ctx); }

void gvmc_sha3_224_update(gvmc_sha3_224_ctx *ctx, const void *data, size_t len) {
    const uint8_t *p = data;
    if (ctx->buffered) {
        size_t take = 144 - ctx->buffered < len ? 144 - ctx->buffered : len;
        memcpy(ctx->buffer + ctx->buffered, p, take);
        ctx->buffered += take; p += take; len -= take;
        if (ctx->buffered < 144) return;
        absorb(ctx, ctx->buffer);
        ctx->buffered = 0;
    }
    while (len >= 144) { absorb(ctx, p); p += 144; len -= 144; }
    memcpy(ctx->buffer, p, len);
    ctx->buffered = len;
}

void gvmc_sha3_224_final(gvmc_sha3_224_ctx *ctx, uint8_t out[28]) {
    memset(ctx->buffer + ctx->buffered, 0, 144 - ctx->buffered);
    ctx->buffer[ctx->buffered] ^= 0x06;
    ctx->buffer[143] ^= 0x80;
    absorb(ctx, ctx->buffer);
    memcpy(out, ctx->state, 28);
}
