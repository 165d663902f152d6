/* SHA-256 (FIPS 180-4): a portable compression function and one using the x86 SHA extensions,
 * chosen once at run time with CPUID. */
#include "CDigest.h"
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <immintrin.h>
#endif

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

#define ROTR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void compress_portable(uint32_t h[8], const uint8_t *p, size_t blocks) {
    while (blocks--) {
        uint32_t w[64];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 64; i++) {
            uint32_t s0 = ROTR(w[i - 15], 7) ^ ROTR(w[i - 15], 18) ^ (w[i - 15] >> 3);
            uint32_t s1 = ROTR(w[i - 2], 17) ^ ROTR(w[i - 2], 19) ^ (w[i - 2] >> 10);
            w[i] = w[i - 16] + s0 + w[i - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int i = 0; i < 64; i++) {
            uint32_t t1 = hh + (ROTR(e, 6) ^ ROTR(e, 11) ^ ROTR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
            uint32_t t2 = (ROTR(a, 2) ^ ROTR(a, 13) ^ ROTR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
            hh = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
        }
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
        p += 64;
    }
}

#if defined(__x86_64__)
__attribute__((target("sha,sse4.1")))
static void compress_shani(uint32_t h[8], const uint8_t *p, size_t blocks) {
    const __m128i shuffle = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    /* State as ABEF / CDGH, the layout the instructions use. */
    __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);   /* A B C D (h0..h3) */
    __m128i state1 = _mm_loadu_si128((const __m128i *)&h[4]); /* E F G H */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);       /* C D A B */
    state1 = _mm_shuffle_epi32(state1, 0x1B); /* H G F E */
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8); /* A B E F */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);      /* C D G H */

    while (blocks--) {
        __m128i abef = state0, cdgh = state1, msg, m0, m1, m2, m3;

#define ROUNDS(mi, k)                                                        \
    msg = _mm_add_epi32(mi, _mm_loadu_si128((const __m128i *)&K[k]));        \
    state1 = _mm_sha256rnds2_epu32(state1, state0, msg);                     \
    msg = _mm_shuffle_epi32(msg, 0x0E);                                      \
    state0 = _mm_sha256rnds2_epu32(state0, state1, msg);

        m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 0)), shuffle);
        ROUNDS(m0, 0);
        m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16)), shuffle);
        ROUNDS(m1, 4);
        m0 = _mm_sha256msg1_epu32(m0, m1);
        m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 32)), shuffle);
        ROUNDS(m2, 8);
        m1 = _mm_sha256msg1_epu32(m1, m2);
        m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 48)), shuffle);
        ROUNDS(m3, 12);
        for (int k = 16; k < 64; k += 16) {
            m0 = _mm_add_epi32(m0, _mm_alignr_epi8(m3, m2, 4));
            m0 = _mm_sha256msg2_epu32(m0, m3);
            ROUNDS(m0, k);
            m2 = _mm_sha256msg1_epu32(m2, m3);
            m1 = _mm_add_epi32(m1, _mm_alignr_epi8(m0, m3, 4));
            m1 = _mm_sha256msg2_epu32(m1, m0);
            ROUNDS(m1, k + 4);
            m3 = _mm_sha256msg1_epu32(m3, m0);
            m2 = _mm_add_epi32(m2, _mm_alignr_epi8(m1, m0, 4));
            m2 = _mm_sha256msg2_epu32(m2, m1);
            ROUNDS(m2, k + 8);
            m0 = _mm_sha256msg1_epu32(m0, m1);
            m3 = _mm_add_epi32(m3, _mm_alignr_epi8(m2, m1, 4));
            m3 = _mm_sha256msg2_epu32(m3, m2);
            ROUNDS(m3, k + 12);
            m1 = _mm_sha256msg1_epu32(m1, m2);
        }
#undef ROUNDS
        state0 = _mm_add_epi32(state0, abef);
        state1 = _mm_add_epi32(state1, cdgh);
        p += 64;
    }

    tmp = _mm_shuffle_epi32(state0, 0x1B);    /* F E B A */
    state1 = _mm_shuffle_epi32(state1, 0xB1); /* D C H G */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0); /* D C B A */
    state1 = _mm_alignr_epi8(state1, tmp, 8);    /* H G F E */
    _mm_storeu_si128((__m128i *)&h[0], state0);
    _mm_storeu_si128((__m128i *)&h[4], state1);
}
#endif

static int use_shani = -1;

int gvmc_sha256_accelerated(void) {
#if defined(__x86_64__)
    if (use_shani < 0) {
        unsigned a, b, c, d;
        int sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
        int sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19));
        use_shani = sha && sse41;
    }
    return use_shani;
#else
    return 0;
#endif
}

static void compress(uint32_t h[8], const uint8_t *p, size_t blocks) {
#if defined(__x86_64__)
    if (gvmc_sha256_accelerated()) { compress_shani(h, p, blocks); return; }
#endif
    compress_portable(h, p, blocks);
}

void gvmc_sha256_init(gvmc_sha256_ctx *ctx) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->h, iv, sizeof iv);
    ctx->buffered = 0;
    ctx->length = 0;
}

void gvmc_sha256_update(gvmc_sha256_ctx *ctx, const void *data, size_t len) {
    const uint8_t *p = data;
    ctx->length += len;
    if (ctx->buffered) {
        size_t take = 64 - ctx->buffered < len ? 64 - ctx->buffered : len;
        memcpy(ctx->buffer + ctx->buffered, p, take);
        ctx->buffered += take; p += take; len -= take;
        if (ctx->buffered < 64) return;
        compress(ctx->h, ctx->buffer, 1);
        ctx->buffered = 0;
    }
    if (len >= 64) {
        compress(ctx->h, p, len / 64);
        p += len / 64 * 64;
        len %= 64;
    }
    memcpy(ctx->buffer, p, len);
    ctx->buffered = len;
}

void gvmc_sha256_final(gvmc_sha256_ctx *ctx, uint8_t out[32]) {
    uint64_t bits = ctx->length * 8;
    uint8_t pad[72] = {0x80};
    size_t padlen = (ctx->buffered < 56 ? 56 : 120) - ctx->buffered;
    for (int i = 0; i < 8; i++) pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    gvmc_sha256_update(ctx, pad, padlen + 8);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(ctx->h[i] >> 24); out[4 * i + 1] = (uint8_t)(ctx->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(ctx->h[i] >> 8); out[4 * i + 3] = (uint8_t)ctx->h[i];
    }
}
