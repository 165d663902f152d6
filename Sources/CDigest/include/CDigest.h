/* SHA-256 and SHA3-224 in C: the writer hashes every file for deduplication and every image for
 * Golem's id, so these run at memory speed (SHA-256 uses the x86 SHA extensions when present). */
#ifndef GVMC_CDIGEST_H
#define GVMC_CDIGEST_H
#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];
    uint8_t buffer[64];
    size_t buffered;
    uint64_t length;
} gvmc_sha256_ctx;

void gvmc_sha256_init(gvmc_sha256_ctx *ctx);
void gvmc_sha256_update(gvmc_sha256_ctx *ctx, const void *data, size_t len);
void gvmc_sha256_final(gvmc_sha256_ctx *ctx, uint8_t out[32]);
/* 1 when the SHA-NI path is in use (for the benchmark report). */
int gvmc_sha256_accelerated(void);

typedef struct {
    uint64_t state[25];
    uint8_t buffer[144];
    size_t buffered;
} gvmc_sha3_224_ctx;

void gvmc_sha3_224_init(gvmc_sha3_224_ctx *ctx);
void gvmc_sha3_224_update(gvmc_sha3_224_ctx *ctx, const void *data, size_t len);
void gvmc_sha3_224_final(gvmc_sha3_224_ctx *ctx, uint8_t out[28]);



/* 1 when every byte is below 0x80 (the parser's fast path for ASCII text). */
int gvmc_is_ascii(const void *data, size_t len);

/* 1 when all `len` bytes are zero (sparse block detection). */
int gvmc_is_zero(const void *data, size_t len);
#endif
