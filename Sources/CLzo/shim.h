#include <lzo/lzo1x.h>
/* Macros Swift cannot import, as functions. */
static inline unsigned long gvmc_lzo1x_999_mem_compress(void) { return LZO1X_999_MEM_COMPRESS; }
