// What the dlopen'ed libraries share (libcurl and libarchive in CDynamic.c, libssh in SSH.c):
// opening the first library that exists and filling typed function pointers from it.
#ifndef GVMC_CDYNAMIC_LOADER_H
#define GVMC_CDYNAMIC_LOADER_H
#include <stddef.h>

// Function pointers typed from the real headers, so a prototype mismatch is a compile error.
#define FN(name) static __typeof__(name) *p_##name
#define SLOT(name) (void **)&p_##name

/// The first of `candidates` (NULL-terminated) dlopen can open; NULL with a message in err.
void *gv_open_first(const char *const *candidates, char *err, size_t errlen);
/// Opens the first of `libs` and sets each `*slots[i]` to the symbol `names[i]`; 0 on success,
/// else -1 with a message in err (the library missing, or a symbol it lacks).
int gv_bind(const char *const *libs, const char *const *names, void **const *slots, int count, char *err, size_t errlen);
#endif
