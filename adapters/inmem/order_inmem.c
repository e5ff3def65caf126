/*
 * The in-memory store's page order (store.h): blocks of up to
 * INMEM_ORDER_BLOCK entries. Posts come nearly in created_at order, but a
 * batch interleaves partitions, so some land far from the end: in one
 * sorted array each such insertion moved everything after it, and took
 * half of the worker's CPU in make bench. Here it moves at most a block.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/inmem/store.h"

static int order_cmp(pw_time at, const char *id, const struct inmem_order *o)
{
    return at != o->at ? (at < o->at ? -1 : 1) : strcmp(id, o->id);
}

/* The first entry of block b after (at, id), bisected; b's n if none. */
static size_t block_after(const struct inmem_order_block *blk, pw_time at, const char *id)
{
    size_t lo = 0, hi = blk->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (order_cmp(at, id, &blk->e[mid]) >= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The first block whose last entry comes after (at, id); nblocks if none. */
static size_t blocks_after(const struct pw_inmem_store *st, pw_time at, const char *id)
{
    size_t lo = 0, hi = st->nblocks;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct inmem_order_block *blk = st->blocks[mid];
        if (order_cmp(at, id, &blk->e[blk->n - 1]) >= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

struct inmem_order_pos inmem_order_after(const struct pw_inmem_store *st, bool after, pw_time at,
                                         const char *id)
{
    if (!after)
        return (struct inmem_order_pos){0, 0};
    size_t b = blocks_after(st, at, id);
    return (struct inmem_order_pos){b, b < st->nblocks ? block_after(st->blocks[b], at, id) : 0};
}

const struct inmem_order *inmem_order_at(const struct pw_inmem_store *st,
                                         struct inmem_order_pos p)
{
    return p.b < st->nblocks ? &st->blocks[p.b]->e[p.i] : NULL;
}

struct inmem_order_pos inmem_order_next(const struct pw_inmem_store *st, struct inmem_order_pos p)
{
    if (++p.i == st->blocks[p.b]->n)
        p = (struct inmem_order_pos){p.b + 1, 0};
    return p;
}

/* A new block at index b, empty; NULL when memory runs out (nothing changed). */
static struct inmem_order_block *block_new(struct pw_inmem_store *st, size_t b)
{
    if (st->nblocks == st->cap_blocks) {
        size_t cap = st->cap_blocks ? st->cap_blocks * 2 : 16;
        struct inmem_order_block **grown = realloc(st->blocks, cap * sizeof *grown);
        if (!grown)
            return NULL;
        st->blocks = grown;
        st->cap_blocks = cap;
    }
    struct inmem_order_block *blk = malloc(sizeof *blk);
    if (!blk)
        return NULL;
    blk->n = 0;
    memmove(&st->blocks[b + 1], &st->blocks[b], (st->nblocks - b) * sizeof *st->blocks);
    st->blocks[b] = blk;
    st->nblocks++;
    return blk;
}

enum pw_err inmem_order_add(struct pw_inmem_store *st, const struct pw_post *post)
{
    size_t b = blocks_after(st, post->created_at, post->post_id);
    if (b == st->nblocks && b > 0)
        b--; /* after every post: the end of the last block */
    if (!st->nblocks && !block_new(st, 0))
        return PW_E_NOMEM;
    struct inmem_order_block *blk = st->blocks[b];
    if (blk->n == INMEM_ORDER_BLOCK) { /* full: its second half becomes a block of its own */
        struct inmem_order_block *half = block_new(st, b + 1);
        if (!half)
            return PW_E_NOMEM;
        half->n = INMEM_ORDER_BLOCK / 2;
        blk->n = INMEM_ORDER_BLOCK - half->n;
        memcpy(half->e, &blk->e[blk->n], half->n * sizeof *half->e);
        if (order_cmp(post->created_at, post->post_id, &blk->e[blk->n - 1]) > 0)
            blk = half;
    }
    size_t at = block_after(blk, post->created_at, post->post_id);
    memmove(&blk->e[at + 1], &blk->e[at], (blk->n - at) * sizeof *blk->e);
    blk->e[at].at = post->created_at;
    snprintf(blk->e[at].id, sizeof blk->e[at].id, "%s", post->post_id);
    blk->n++;
    return PW_OK;
}

void inmem_order_free(struct pw_inmem_store *st)
{
    for (size_t b = 0; b < st->nblocks; b++)
        free(st->blocks[b]);
    free(st->blocks);
}
