/*
 * An LZO1X encoder for squashfs blocks: the stream format liblzo2's lzo1x_decompress_safe and
 * the kernel's lib/lzo decompressor read (Documentation/staging/lzo.rst describes it), produced
 * by optimal parsing instead of liblzo2's lzo1x_999 search.
 *
 * Matches come from a binary tree of earlier positions keyed by their first three bytes (the
 * structure LZMA's bt3 match finder uses): inserting a position walks the tree once and yields
 * every match longer than the previous one, nearest first, in O(depth). A forward pass then
 * prices every way to reach each position (a literal, or a match of any useful length ending
 * there) in output bytes, with the literal-run headers the format needs, and the cheapest path
 * is emitted.
 *
 * Instructions used (distance d, length l):
 *   literal runs   first byte 17+k (k <= 238) at the start; 1-3 literals after a match in the
 *                  match's S bits; otherwise 0000LLLL (length 3 + L, or 18 + 255*zeros + byte)
 *   M2  64..255    l 3..8,  d <= 2048:   1 byte + 1 byte
 *   M3  32..63     l >= 3,  d <= 16384:  1 byte (+ length bytes) + LE16 (d-1)<<2 | S
 *   M4  16..31     l >= 3,  d <= 49151:  1 byte (+ length bytes) + LE16 (d-16384)<<2 | S
 *   end            17 0 0 (an M4 with distance 16384)
 * The short M1 forms (2-byte copies after 1-3 literals, 3-byte copies at 2049..3072 after a
 * long literal run) are not used. A stream never starts with byte 17 (which would announce the
 * kernel's LZO-RLE bitstream version).
 */
#include "CLzoEncoder.h"
#include <stdlib.h>
#include <string.h>

#define HASH_BITS 16
#define M2_MAX_DISTANCE 2048
#define M3_MAX_DISTANCE 16384
#define M4_MAX_DISTANCE 49151
#define TREE_DEPTH 12        /* tree nodes visited per position */
#define NICE_LENGTH 64       /* a match this long is taken at once (256: 8% more time for 0.04-0.08% less output) */
#define UNREACHED 0x3fffffff

struct node {                /* the cheapest known way to reach a position */
    int32_t cost;            /* output bytes so far */
    int32_t length;          /* of the match ending here; 0: the last step was a literal */
    int32_t distance;
    int32_t literals;        /* length of the literal run ending here */
};

struct gvmc_lzo_encoder {
    int32_t roots[1 << HASH_BITS];
    int hash_shift;          /* 32 - the bits used (fewer for small blocks: less to clear) */
    int32_t *tree;           /* tree[2p], tree[2p+1]: the smaller and larger subtrees of p */
    struct node *nodes;
    size_t capacity;
};

gvmc_lzo_encoder *gvmc_lzo_encoder_new(void) { return calloc(1, sizeof(gvmc_lzo_encoder)); }

void gvmc_lzo_encoder_free(gvmc_lzo_encoder *e) {
    if (!e) return;
    free(e->tree);
    free(e->nodes);
    free(e);
}

static inline uint32_t hash3(const uint8_t *p, int shift) {
    uint32_t v = (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16);
    return (v * 2654435761u) >> shift;
}

/* Common prefix length of a and b, reading a up to end. */
static inline int common_length(const uint8_t *a, const uint8_t *b, const uint8_t *end) {
    const uint8_t *start = a;
    while (a + 8 <= end) {
        uint64_t x, y;
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        if (x != y) return (int)(a - start) + (__builtin_ctzll(x ^ y) >> 3);
        a += 8;
        b += 8;
    }
    while (a < end && *a == *b) { a++; b++; }
    return (int)(a - start);
}

/* Inserts position p; stores the matches found (strictly increasing lengths) when lengths is
 * not NULL and returns how many. Positions farther than M4_MAX_DISTANCE are cut off. */
static int tree_insert(gvmc_lzo_encoder *e, const uint8_t *in, size_t p, size_t n, int *lengths, int *distances) {
    int32_t *tree = e->tree;
    uint32_t h = hash3(in + p, e->hash_shift);
    int32_t candidate = e->roots[h];
    e->roots[h] = (int32_t)p;
    int32_t *smaller = &tree[2 * p], *larger = &tree[2 * p + 1];
    int smaller_length = 0, larger_length = 0, best = 2, found = 0, depth = TREE_DEPTH;
    int limit = (int)(n - p) < NICE_LENGTH ? (int)(n - p) : NICE_LENGTH;
    const uint8_t *here = in + p;
    for (;;) {
        if (candidate < 0 || p - (size_t)candidate > M4_MAX_DISTANCE || depth-- <= 0) {
            *smaller = *larger = -1;
            break;
        }
        const uint8_t *there = in + candidate;
        int length = smaller_length < larger_length ? smaller_length : larger_length;
        if (length < limit && there[length] == here[length]) length += common_length(here + length, there + length, here + limit);
        if (length > best) {
            best = length;
            if (lengths) {
                lengths[found] = length;
                distances[found] = (int)(p - (size_t)candidate);
                found++;
            }
        }
        if (length >= limit) {     /* equal as far as we look: p replaces the candidate */
            *smaller = tree[2 * candidate];
            *larger = tree[2 * candidate + 1];
            break;
        }
        if (there[length] < here[length]) {
            *smaller = candidate;
            smaller = &tree[2 * candidate + 1];
            candidate = *smaller;
            smaller_length = length;
        } else {
            *larger = candidate;
            larger = &tree[2 * candidate];
            candidate = *larger;
            larger_length = length;
        }
    }
    return found;
}

/* Bytes to write a length remainder r >= 1: zero bytes for each 255, then one non-zero byte. */
static inline int remainder_bytes(int r) { return 1 + (r - 1) / 255; }

static inline int match_cost(int length, int distance) {
    if (distance <= M2_MAX_DISTANCE && length <= 8) return 2;
    if (distance <= M3_MAX_DISTANCE) return length <= 33 ? 3 : 3 + remainder_bytes(length - 33);
    return length <= 9 ? 3 : 3 + remainder_bytes(length - 9);
}

/* Header bytes of a run of k literals; `first`: the run that starts the stream. */
static inline int run_header(int k, int first) {
    if (k == 0) return 0;
    if (first) return k <= 238 ? 1 : 1 + remainder_bytes(k - 18);
    if (k <= 3) return 0;
    return k <= 18 ? 1 : 1 + remainder_bytes(k - 18);
}

static inline void relax(struct node *to, int cost, int length, int distance) {
    if (cost < to->cost) {
        to->cost = cost;
        to->length = length;
        to->distance = distance;
        to->literals = 0;
    }
}

size_t gvmc_lzo_encode(gvmc_lzo_encoder *e, const uint8_t *in, size_t n, uint8_t *out, size_t out_capacity) {
    if (n == 0 || n > 0x3fffffff) return 0;
    if (e->capacity < n + 1) {
        free(e->tree);
        free(e->nodes);
        e->tree = malloc(sizeof(int32_t) * 2 * (n + 1));
        e->nodes = malloc(sizeof(struct node) * (n + 1));
        e->capacity = e->tree && e->nodes ? n + 1 : 0;
        if (!e->capacity) return 0;
    }
    struct node *nodes = e->nodes;
    int bits = 10;
    while (bits < HASH_BITS && ((size_t)1 << bits) < n) bits++;
    e->hash_shift = 32 - bits;
    memset(e->roots, 0xff, sizeof(int32_t) << bits);
    for (size_t i = 0; i <= n; i++) nodes[i].cost = UNREACHED;
    nodes[0] = (struct node){0, 0, 0, 0};

    /* Pricing. */
    int lengths[NICE_LENGTH + 1], distances[NICE_LENGTH + 1];
    for (size_t i = 0; i < n; i++) {
        int found = i + 3 <= n ? tree_insert(e, in, i, n, lengths, distances) : 0;
        struct node here = nodes[i];
        if (here.cost >= UNREACHED) continue;
        int first = here.length == 0 && here.literals == (int)i;
        int k = here.literals;
        int literal = here.cost + 1 + run_header(k + 1, first) - run_header(k, first);
        if (literal < nodes[i + 1].cost) nodes[i + 1] = (struct node){literal, 0, 0, k + 1};
        /* Each match serves the lengths above the previous one. Past 34 bytes a longer match
         * costs the same or one byte more, so only its full length is priced. */
        int from = 3;
        for (int f = 0; f < found; f++) {
            int length = lengths[f], distance = distances[f];
            int upto = length > 34 ? 34 : length;
            for (int l = from; l <= upto; l++) relax(&nodes[i + l], here.cost + match_cost(l, distance), l, distance);
            if (length > 34) relax(&nodes[i + length], here.cost + match_cost(length, distance), length, distance);
            from = length + 1;
        }
        if (found && lengths[found - 1] >= NICE_LENGTH) {
            /* A long match is taken, as long as it goes (the tree looks only NICE_LENGTH
             * bytes far); the positions inside it are only added to the tree. */
            int distance = distances[found - 1];
            size_t length = (size_t)lengths[found - 1];
            length += (size_t)common_length(in + i + length, in + i + length - distance, in + n);
            if (length > (size_t)lengths[found - 1]) relax(&nodes[i + length], here.cost + match_cost((int)length, distance), (int)length, distance);
            size_t end = i + length;
            for (size_t p = i + 1; p < end; p++) {
                nodes[p].cost = UNREACHED;
                if (p + 3 <= n) tree_insert(e, in, p, n, NULL, NULL);
            }
            i = end - 1;
        }
    }

    /* The cheapest path, walked back from the end (its step ends reuse the tree's memory). */
    int32_t *ends = e->tree;
    size_t steps = 0;
    for (size_t p = n; p > 0; p -= nodes[p].length ? (size_t)nodes[p].length : 1) ends[steps++] = (int32_t)p;

    /* Emission. */
    size_t o = 0, run_start = 0, s_byte = 0;
    int after_match = 0;
#define PUT(byte) do { if (o >= out_capacity) return 0; out[o++] = (uint8_t)(byte); } while (0)
#define PUT_REMAINDER(r) do { size_t rest_ = (r); while (rest_ > 255) { PUT(0); rest_ -= 255; } PUT(rest_); } while (0)
    for (size_t s = steps + 1; s-- > 0;) {
        size_t end = s == 0 ? n : (size_t)ends[s - 1];
        const struct node *m = s == 0 ? NULL : &nodes[end];
        if (m && !m->length) continue;
        /* The literal run before this match (or before the end). */
        size_t stop = m ? end - (size_t)m->length : n;
        size_t k = stop - run_start;
        if (k > 0) {
            if (!after_match && k <= 238) PUT(17 + k);
            else if (after_match && k <= 3) out[s_byte] |= (uint8_t)k;
            else if (k <= 18) PUT(k - 3);
            else { PUT(0); PUT_REMAINDER(k - 18); }
            if (o + k > out_capacity) return 0;
            memcpy(out + o, in + run_start, k);
            o += k;
        }
        if (!m) break;
        int length = m->length, distance = m->distance;
        if (distance <= M2_MAX_DISTANCE && length <= 8) {
            int d = distance - 1;
            s_byte = o;
            PUT((length <= 4 ? 64 | ((length - 3) << 5) : 128 | ((length - 5) << 5)) | ((d & 7) << 2));
            PUT(d >> 3);
        } else if (distance <= M3_MAX_DISTANCE) {
            int d = distance - 1;
            if (length <= 33) PUT(32 | (length - 2));
            else { PUT(32); PUT_REMAINDER((size_t)length - 33); }
            s_byte = o;
            PUT((d & 63) << 2);
            PUT(d >> 6);
        } else {
            int d = distance - 16384;
            int high = (d >> 14) & 1;
            if (length <= 9) PUT(16 | (high << 3) | (length - 2));
            else { PUT(16 | (high << 3)); PUT_REMAINDER((size_t)length - 9); }
            s_byte = o;
            PUT((d & 63) << 2);
            PUT((d & 0x3fff) >> 6);
        }
        after_match = 1;
        run_start = end;
    }
    PUT(17);
    PUT(0);
    PUT(0);
#undef PUT
#undef PUT_REMAINDER
    return o;
}
