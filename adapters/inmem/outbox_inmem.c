/*
 * The in-memory outbox reader. Rows sit in the store in commit order (the
 * unit of work appends them under the store's lock at commit), so "oldest
 * first" is simply array order, and no committed row can appear behind one
 * the relay has already passed.
 *
 * Like the PostgreSQL reader's advisory lock, only one reader of a store
 * publishes at a time (the first to peek, until it closes), so two workers
 * on one store neither publish an event twice nor interleave a post's events.
 */
#include "adapters/inmem/inmem.h"

#include <stdlib.h>
#include <time.h>

#include "adapters/inmem/store.h"

struct inmem_outbox {
    struct pw_inmem_store *store;
};

static enum pw_err inmem_outbox_peek(void *self, struct pw_out *outs, uint64_t *seqs,
                                     size_t max, size_t *n, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_outbox *)self)->store;
    enum pw_err rc = PW_OK;
    *n = 0;
    pthread_mutex_lock(&st->lock);
    if (!st->relay)
        st->relay = self;
    size_t bytes = 0;
    for (size_t i = st->outbox_head;
         st->relay == self && i < st->outbox_len && *n < max && bytes < PW_OUT_ROUND_BYTES; i++) {
        struct inmem_outbox_row *row = &st->outbox[i];
        if (row->removed)
            continue;
        bytes += pw_out_bytes(&row->out);
        if (pw_out_copy(&outs[*n], &row->out)) {
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory reading the outbox");
            break;
        }
        seqs[(*n)++] = row->seq;
    }
    pthread_mutex_unlock(&st->lock);
    if (rc) {
        for (size_t i = 0; i < *n; i++)
            pw_out_release(&outs[i]);
        *n = 0;
    }
    return rc;
}

/* Rows are sorted by seq, so each seq is found by bisection. */
static struct inmem_outbox_row *inmem_outbox_find(struct pw_inmem_store *st, uint64_t seq)
{
    size_t lo = st->outbox_head, hi = st->outbox_len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (st->outbox[mid].seq < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < st->outbox_len && st->outbox[lo].seq == seq ? &st->outbox[lo] : NULL;
}

static enum pw_err inmem_outbox_remove(void *self, const uint64_t *seqs, size_t n,
                                       struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_outbox *)self)->store;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < n; i++) {
        struct inmem_outbox_row *row = inmem_outbox_find(st, seqs[i]);
        if (row && !row->removed) {
            row->removed = true;
            pw_out_release(&row->out);
        }
    }
    while (st->outbox_head < st->outbox_len && st->outbox[st->outbox_head].removed)
        st->outbox_head++;
    if (st->outbox_head == st->outbox_len)
        st->outbox_head = st->outbox_len = 0;
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

static enum pw_err inmem_outbox_high(void *self, uint64_t *seq, struct pw_errbuf *err)
{
    (void)err;
    struct inmem_outbox *o = self;
    struct pw_inmem_store *st = o->store;
    pthread_mutex_lock(&st->lock);
    *seq = st->next_seq ? st->next_seq - 1 : 0; /* seqs are given out at commit */
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

static enum pw_err inmem_outbox_stats(void *self, int64_t *pending, int64_t *dead_letters,
                                      int64_t *oldest_ms, struct pw_errbuf *err)
{
    (void)err;
    struct inmem_outbox *o = self;
    struct pw_inmem_store *st = o->store;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t now_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, oldest = 0;
    *pending = *dead_letters = 0;
    pthread_mutex_lock(&st->lock);
    for (size_t i = st->outbox_head; i < st->outbox_len; i++) {
        if (st->outbox[i].removed)
            continue;
        *dead_letters += st->outbox[i].out.kind != PW_OUT_EVENT;
        if (!(*pending)++)
            oldest = now_ms - st->outbox[i].committed_ms;
    }
    pthread_mutex_unlock(&st->lock);
    *oldest_ms = oldest > 0 ? oldest : 0;
    return PW_OK;
}

static void inmem_outbox_close(void *self)
{
    struct pw_inmem_store *st = ((struct inmem_outbox *)self)->store;
    pthread_mutex_lock(&st->lock);
    if (st->relay == self)
        st->relay = NULL; /* the next reader to peek takes over */
    pthread_mutex_unlock(&st->lock);
    free(self);
}

static const struct pw_outbox_ops inmem_outbox_ops = {
    .name = "inmem",
    .peek = inmem_outbox_peek,
    .high = inmem_outbox_high,
    .stats = inmem_outbox_stats,
    .remove = inmem_outbox_remove,
    .close = inmem_outbox_close,
};

enum pw_err pw_inmem_outbox_open(struct pw_outbox *outbox, struct pw_inmem_store *store)
{
    struct inmem_outbox *o = calloc(1, sizeof *o);
    if (!o)
        return PW_E_NOMEM;
    o->store = store;
    outbox->ops = &inmem_outbox_ops;
    outbox->self = o;
    return PW_OK;
}
