#include <lzma.h>
/* Macros Swift cannot import, as functions. */
static inline lzma_vli gvmc_lzma_vli_unknown(void) { return LZMA_VLI_UNKNOWN; }
static inline lzma_vli gvmc_lzma_filter_lzma2(void) { return LZMA_FILTER_LZMA2; }
