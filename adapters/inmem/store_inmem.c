/*
 * The in-memory store: its life cycle, its keys, and the store port
 * (ports/store.h) on it. Its state is read and written by the unit of
 * work, the outbox reader and the store port, each under its one lock.
 */
#include "adapters/inmem/inmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/inmem/store.h"
#include "adapters/inmem/uow_inmem.h"

void inmem_post_free(void *val)
{
    struct pw_post *post = val;
    if (post)
        pw_post_release(post);
    free(post);
}

enum pw_err inmem_key(char *buf, size_t *klen, const char *a, const void *b, size_t blen,
                      struct pw_errbuf *err)
{
    size_t alen = strlen(a);
    if (alen + 1 + blen > INMEM_KEY_MAX)
        return pw_err_set(err, PW_E_FATAL, "key of %zu bytes is longer than the store takes",
                          alen + 1 + blen);
    memcpy(buf, a, alen);
    buf[alen] = '\0';
    if (blen)
        memcpy(buf + alen + 1, b, blen);
    *klen = alen + 1 + blen;
    return PW_OK;
}

enum pw_err inmem_offset_key(char *buf, size_t *klen, const char *group, const char *topic,
                             int32_t partition, struct pw_errbuf *err)
{
    char tp[PW_TOPIC_MAX + 1 + sizeof partition];
    size_t tlen = strlen(topic);
    if (tlen > PW_TOPIC_MAX)
        return pw_err_set(err, PW_E_FATAL, "topic name of %zu bytes is longer than Kafka allows",
                          tlen);
    memcpy(tp, topic, tlen + 1);
    memcpy(tp + tlen + 1, &partition, sizeof partition);
    return inmem_key(buf, klen, group, tp, tlen + 1 + sizeof partition, err);
}

struct pw_inmem_store *pw_inmem_store_new(void)
{
    struct pw_inmem_store *store = calloc(1, sizeof *store);
    if (!store)
        return NULL;
    /* A command each: these two grow big, and nothing walks them (map.h). */
    store->posts.incremental_from = store->inbox.incremental_from = INMEM_MAP_INCREMENTAL;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    bool cond = pthread_cond_init(&store->changed, &attr) == 0;
    pthread_condattr_destroy(&attr);
    if (!cond) {
        free(store);
        return NULL;
    }
    if (pthread_mutex_init(&store->lock, NULL) != 0) {
        pthread_cond_destroy(&store->changed);
        free(store);
        return NULL;
    }
    store->changes = 1;
    store->next_seq = 1;
    return store;
}

void inmem_changed(struct pw_inmem_store *st)
{
    st->changes++;
    pthread_cond_broadcast(&st->changed);
}

static void inmem_park_free_all(void *val)
{
    struct inmem_park *park = val;
    for (size_t k = 0; park && k < park->nq; k++)
        inmem_held_free(park->q[k].e);
    inmem_park_free(park);
}

void pw_inmem_store_free(struct pw_inmem_store *store)
{
    if (!store)
        return;
    inmem_map_clear(&store->posts, inmem_post_free);
    inmem_map_clear(&store->inbox, free);
    free(store->ages);
    inmem_map_clear(&store->offsets, NULL);
    inmem_map_clear(&store->runs, free);
    inmem_map_clear(&store->parks, inmem_park_free_all);
    inmem_map_clear(&store->held_ids, NULL);
    for (size_t i = store->outbox_head; i < store->outbox_len; i++)
        pw_out_release(&store->outbox[i].out);
    free(store->outbox);
    inmem_order_free(store);
    pthread_mutex_destroy(&store->lock);
    pthread_cond_destroy(&store->changed);
    free(store);
}

/* A handle of the store port: the store, and who it is, for the one that drains. */
struct inmem_store_port {
    struct pw_inmem_store *store;
};

static enum pw_err inmem_store_offset_get(void *self, const char *group, const char *topic,
                                          int32_t partition, int64_t *offset,
                                          struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    char key[INMEM_KEY_MAX];
    size_t klen;
    enum pw_err rc = inmem_offset_key(key, &klen, group, topic, partition, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&st->lock);
    struct inmem_slot *s = inmem_map_get(&st->offsets, key, klen);
    *offset = s ? s->num : -1;
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

static enum pw_err inmem_store_holds_nothing(void *self, bool *empty, struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    pthread_mutex_lock(&st->lock);
    *empty = st->inbox.len == 0 && st->offsets.len == 0;
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

enum pw_err inmem_mark_made(struct pw_inmem_store *st, const struct inmem_slot *s)
{
    if (st->ages_head > 1024 && st->ages_head * 2 > st->ages_len) { /* reuse what was pruned */
        st->ages_len -= st->ages_head;
        memmove(st->ages, st->ages + st->ages_head, st->ages_len * sizeof *st->ages);
        st->ages_head = 0;
    }
    if (st->ages_len == st->ages_cap) {
        size_t cap = st->ages_cap ? st->ages_cap * 2 : 1024;
        struct inmem_age *a = realloc(st->ages, cap * sizeof *a);
        if (!a)
            return PW_E_NOMEM;
        st->ages = a;
        st->ages_cap = cap;
    }
    st->ages[st->ages_len++] = (struct inmem_age){s->key, s->klen, inmem_now_ms()};
    return PW_OK;
}

static enum pw_err inmem_store_prune_inbox(void *self, int64_t older_ms, size_t max,
                                           size_t *pruned, struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    pthread_mutex_lock(&st->lock);
    int64_t before = inmem_now_ms() - older_ms;
    while (*pruned < max && st->ages_head < st->ages_len &&
           st->ages[st->ages_head].at_ms < before) {
        struct inmem_age *a = &st->ages[st->ages_head++];
        struct inmem_slot *s = inmem_map_get(&st->inbox, a->key, a->klen);
        if (s) {
            free(s->val);
            inmem_map_remove(&st->inbox, s);
            (*pruned)++;
        }
    }
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

/* The run row of r's partition into *run, made if need be (a new one at offset -1). */
static enum pw_err inmem_run_row(struct pw_inmem_store *st, const struct pw_run_start *r,
                                 struct inmem_run **run, struct pw_errbuf *err)
{
    char key[INMEM_KEY_MAX];
    size_t klen;
    int created;
    enum pw_err rc = inmem_offset_key(key, &klen, r->group, r->topic, r->partition, err);
    if (rc)
        return rc;
    struct inmem_slot *s = inmem_map_put(&st->runs, key, klen, &created);
    if (s && !s->val && (s->val = calloc(1, sizeof(struct inmem_run))))
        ((struct inmem_run *)s->val)->offset = -1;
    if (!s || !s->val)
        return pw_err_set(err, PW_E_NOMEM, "out of memory counting runs");
    *run = s->val;
    return PW_OK;
}

/*
 * A run below its partition's stored offset reruns what is done (a worker
 * that lost the partition while paused): recorded, it would reset the
 * count of the message at the stored offset. It is not recorded.
 */
static int64_t inmem_run_stale(struct pw_inmem_store *st, const struct pw_run_start *r)
{
    char key[INMEM_KEY_MAX];
    size_t klen;
    if (r->partition == PW_HELD_PARTITION ||
        inmem_offset_key(key, &klen, r->group, r->topic, r->partition, NULL))
        return -1;
    struct inmem_slot *s = inmem_map_get(&st->offsets, key, klen);
    return s && r->offset < s->num ? s->num : -1;
}

static enum pw_err inmem_store_runs_start(void *self, struct pw_run_start *r, size_t n,
                                          struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    enum pw_err rc = PW_OK;
    pthread_mutex_lock(&st->lock);
    /* Every row first, so that a failure records nothing; then the starts, which cannot fail. */
    struct inmem_run *run = NULL;
    for (size_t i = 0; i < n && !rc; i++)
        rc = inmem_run_row(st, &r[i], &run, err);
    for (size_t i = 0; i < n && !rc; i++) {
        inmem_run_row(st, &r[i], &run, NULL);
        r[i].stored = inmem_run_stale(st, &r[i]);
        if (r[i].stored >= 0) {
            r[i].died = false;
            r[i].deaths = 0;
            continue;
        }
        bool same = run->offset == r[i].offset;
        r[i].died = same && run->token && run->token != r[i].ended; /* 0: ended alive */
        r[i].deaths = same ? run->deaths + (r[i].died && run->alone) : 0;
        *run = (struct inmem_run){.offset = r[i].offset, .token = r[i].token,
                                  .alone = r[i].alone, .deaths = r[i].deaths};
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static enum pw_err inmem_store_runs_end(void *self, const struct pw_run_start *r, size_t n,
                                        struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    enum pw_err rc = PW_OK;
    pthread_mutex_lock(&st->lock);
    for (size_t i = 0; i < n && !rc; i++) {
        char key[INMEM_KEY_MAX];
        size_t klen;
        rc = inmem_offset_key(key, &klen, r[i].group, r[i].topic, r[i].partition, err);
        struct inmem_slot *s = rc ? NULL : inmem_map_get(&st->runs, key, klen);
        struct inmem_run *run = s ? s->val : NULL;
        if (run && run->token == r[i].token && run->offset == r[i].offset)
            run->token = 0; /* ended alive: no death for the next */
    }
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static enum pw_err inmem_store_held_next(void *self, struct pw_held *h, bool *found,
                                         struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    enum pw_err rc = PW_OK;
    pthread_mutex_lock(&st->lock);
    if (!st->drainer)
        st->drainer = self;
    if (st->drainer == self) /* another handle drains: it runs them, one at a time */
        rc = inmem_held_next(st, h, found, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static enum pw_err inmem_store_parked_list(void *self, const char *after, struct pw_parked *out,
                                           size_t max, size_t *n, struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    pthread_mutex_lock(&st->lock);
    enum pw_err rc = inmem_parked_list(st, after, out, max, n);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static enum pw_err inmem_store_parking_stats(void *self, struct pw_parking_stats *stats,
                                             struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    pthread_mutex_lock(&st->lock);
    inmem_parking_stats(st, stats);
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

static enum pw_err inmem_store_release(void *self, const char *post_id, bool dry_run,
                                       struct pw_parked *p, bool *found, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_store_port *)self)->store;
    pthread_mutex_lock(&st->lock);
    enum pw_err rc = inmem_release(st, post_id, dry_run, p, found, err);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static void inmem_store_close(void *self)
{
    struct inmem_store_port *h = self;
    if (!h)
        return;
    pthread_mutex_lock(&h->store->lock);
    if (h->store->drainer == h)
        h->store->drainer = NULL; /* another handle may drain now */
    pthread_mutex_unlock(&h->store->lock);
    free(h);
}

static const struct pw_store_ops inmem_store_ops = {
    .name = "inmem",
    .offset_get = inmem_store_offset_get,
    .holds_nothing = inmem_store_holds_nothing,
    .prune_inbox = inmem_store_prune_inbox,
    .runs_start = inmem_store_runs_start,
    .runs_end = inmem_store_runs_end,
    .held_next = inmem_store_held_next,
    .parked_list = inmem_store_parked_list,
    .parking_stats = inmem_store_parking_stats,
    .release = inmem_store_release,
    .close = inmem_store_close,
};

enum pw_err pw_inmem_store_open(struct pw_store *port, struct pw_inmem_store *store)
{
    struct inmem_store_port *h = calloc(1, sizeof *h);
    if (!h)
        return PW_E_NOMEM;
    h->store = store;
    port->ops = &inmem_store_ops;
    port->self = h;
    return PW_OK;
}
