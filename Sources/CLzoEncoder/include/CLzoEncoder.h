#ifndef GVMC_LZO_ENCODER_H
#define GVMC_LZO_ENCODER_H
#include <stddef.h>
#include <stdint.h>

/* gvmc's LZO1X encoder: optimal parsing over a binary-tree match finder. See lzo_encoder.c. */
typedef struct gvmc_lzo_encoder gvmc_lzo_encoder;

gvmc_lzo_encoder *gvmc_lzo_encoder_new(void);
void gvmc_lzo_encoder_free(gvmc_lzo_encoder *e);

/* Compresses in[0..n) as one LZO1X stream into out; returns its size, or 0 when it would not
 * fit in out_capacity (or memory ran out). */
size_t gvmc_lzo_encode(gvmc_lzo_encoder *e, const uint8_t *in, size_t n, uint8_t *out, size_t out_capacity);

#endif
