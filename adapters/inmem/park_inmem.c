/*
 * Parking in memory: the unit of work's parking operations, on copies of
 * the store's parked posts in the transaction's overlay (commit_inmem.c
 * moves them in), and the store port's queries of them.
 *
 * A post read as not parked leaves nothing in the overlay, so that the
 * normal path costs one lookup: a post's commands come from one partition,
 * which one worker runs at a time. Whatever changes a parked post is
 * checked at commit against the version it was read at.
 */
#include "adapters/inmem/uow_inmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t inmem_now_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

void inmem_held_free(struct inmem_held *held)
{
    if (!held)
        return;
    pw_held_release(&held->h);
    free(held);
}

void inmem_park_free(void *val)
{
    struct inmem_park *park = val;
    if (!park)
        return;
    free(park->value);
    free(park->q);
    free(park);
}

struct inmem_park *inmem_park_copy(const struct inmem_park *park)
{
    struct inmem_park *c = calloc(1, sizeof *c);
    if (!c || !park)
        return c;
    *c = *park;
    c->value = NULL;
    c->q = NULL;
    c->cap = c->nq;
    if (park->value && !(c->value = malloc(park->p.value_len ? park->p.value_len : 1)))
        goto fail;
    if (park->value)
        memcpy(c->value, park->value, park->p.value_len);
    c->p.value = c->value;
    if (c->cap && !(c->q = malloc(c->cap * sizeof *c->q)))
        goto fail;
    for (size_t k = 0; k < c->nq; k++)
        c->q[k] = (struct inmem_qent){.seq = park->q[k].seq, .held_ms = park->q[k].held_ms};
    return c;
fail:
    inmem_park_free(c);
    return NULL;
}

/* Grows *v (of *cap elements of size) to hold need; -1 when memory runs out. */
static int park_grow(void **v, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 8;
    while (n < need)
        n *= 2;
    void *p = realloc(*v, n * size);
    if (!p)
        return -1;
    *v = p;
    *cap = n;
    return 0;
}

/* What *p shows of park: its fields, how many wait, since when. */
static void park_show(const struct inmem_park *park, struct pw_parked *p)
{
    *p = park->p;
    p->held = (int64_t)park->nq;
    p->oldest_ms = park->nq ? park->q[0].held_ms : 0;
}

/*
 * The overlay's slot of post_id, its park copied from the store the first
 * time (val NULL: not parked); with want_slot false, a post that is not
 * parked gets no slot (*slot NULL).
 */
static enum pw_err park_view(struct inmem_uow *u, const char *post_id, bool want_slot,
                             struct inmem_slot **slot, struct pw_errbuf *err)
{
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    size_t len = strlen(post_id);
    if ((*slot = inmem_map_get(&u->parks, post_id, len)))
        return PW_OK;
    struct pw_inmem_store *st = u->store;
    pthread_mutex_lock(&st->lock);
    struct inmem_slot *base = inmem_map_get(&st->parks, post_id, len);
    bool parked = base && base->val;
    struct inmem_park *copy = parked ? inmem_park_copy(base->val) : NULL;
    int64_t version = base ? base->num : 0;
    pthread_mutex_unlock(&st->lock);
    if (parked && !copy)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading parked post '%s'", post_id);
    if (!parked && !want_slot)
        return PW_OK;
    int created;
    struct inmem_slot *s = inmem_map_put(&u->parks, post_id, len, &created);
    if (!s) {
        inmem_park_free(copy);
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading parked post '%s'", post_id);
    }
    s->val = copy;
    s->num = version;
    *slot = s;
    return PW_OK;
}

enum pw_err inmem_uow_parked_get(void *self, const char *post_id, struct pw_parked *p,
                                 bool *found, struct pw_errbuf *err)
{
    struct inmem_slot *s;
    enum pw_err rc = park_view(self, post_id, false, &s, err);
    *found = !rc && s && s->val;
    if (*found)
        park_show(s->val, p);
    return rc;
}

enum pw_err inmem_uow_park(void *self, const struct pw_parked *p, struct pw_errbuf *err)
{
    struct inmem_slot *s;
    enum pw_err rc = park_view(self, p->post_id, true, &s, err);
    if (rc)
        return rc;
    struct inmem_park *park = s->val ? s->val : inmem_park_copy(NULL);
    char *value = p->value ? malloc(p->value_len ? p->value_len : 1) : NULL;
    if (!park || (p->value && !value)) {
        if (park != s->val)
            inmem_park_free(park);
        free(value);
        return pw_err_set(err, PW_E_NOMEM, "out of memory parking post '%s'", p->post_id);
    }
    if (value)
        memcpy(value, p->value, p->value_len);
    free(park->value);
    park->value = value;
    park->p = *p;
    park->p.value = value;
    park->p.draining = false;
    park->p.parked_ms = inmem_now_ms();
    s->val = park;
    return PW_OK;
}

enum pw_err inmem_uow_unpark(void *self, const char *post_id, struct pw_errbuf *err)
{
    struct inmem_slot *s;
    enum pw_err rc = park_view(self, post_id, true, &s, err);
    struct inmem_park *park = rc ? NULL : s->val;
    if (!park)
        return rc;
    park->p.draining = true;
    if (!park->nq) {
        inmem_park_free(park);
        s->val = NULL;
    }
    return PW_OK;
}

enum pw_err inmem_uow_hold(void *self, const char *post_id, const char *source, const char *id,
                           const struct pw_origin *o, unsigned deaths, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    struct inmem_slot *s;
    char key[INMEM_KEY_MAX];
    size_t klen;
    enum pw_err rc = park_view(u, post_id, true, &s, err);
    if (!rc)
        rc = inmem_key(key, &klen, source, id, strlen(id), err);
    if (rc)
        return rc;
    struct inmem_park *park = s->val;
    if (!park)
        return pw_err_set(err, PW_E_TRANSIENT,
                          "serialization failure: post '%s' is no longer parked", post_id);
    struct inmem_held *e = calloc(1, sizeof *e);
    if (!e || pw_held_copy_origin(&e->h, o) ||
        park_grow((void **)&u->fresh, &u->cap_fresh, u->nfresh + 1, sizeof *u->fresh) ||
        park_grow((void **)&park->q, &park->cap, park->nq + 1, sizeof *park->q)) {
        inmem_held_free(e);
        return pw_err_set(err, PW_E_NOMEM, "out of memory holding a command of '%s'", post_id);
    }
    snprintf(e->h.post_id, sizeof e->h.post_id, "%s", post_id);
    snprintf(e->source, sizeof e->source, "%s", source);
    snprintf(e->id, sizeof e->id, "%s", id);
    e->h.deaths = deaths;
    e->held_ms = inmem_now_ms();
    pthread_mutex_lock(&u->store->lock);
    e->h.seq = ++u->store->next_held_seq;
    pthread_mutex_unlock(&u->store->lock);
    u->fresh[u->nfresh++] = e;
    park->q[park->nq++] = (struct inmem_qent){.seq = e->h.seq, .held_ms = e->held_ms, .e = e};
    int created;
    struct inmem_slot *h = inmem_map_put(&u->held_ids, key, klen, &created);
    if (!h)
        return pw_err_set(err, PW_E_NOMEM, "out of memory holding a command of '%s'", post_id);
    h->num = (int64_t)e->h.seq;
    return PW_OK;
}

enum pw_err inmem_uow_held_get(void *self, const char *source, const char *id, bool *found,
                               struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    char key[INMEM_KEY_MAX];
    size_t klen;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (!rc)
        rc = inmem_key(key, &klen, source, id, strlen(id), err);
    if (rc)
        return rc;
    struct inmem_slot *s = inmem_map_get(&u->held_ids, key, klen);
    *found = s && s->num;
    if (*found)
        return PW_OK;
    pthread_mutex_lock(&u->store->lock);
    s = inmem_map_get(&u->store->held_ids, key, klen);
    *found = s && s->num;
    pthread_mutex_unlock(&u->store->lock);
    return PW_OK;
}

/* Where seq waits in park, or park->nq. */
static size_t park_find(const struct inmem_park *park, uint64_t seq)
{
    size_t k = 0;
    while (park && k < park->nq && park->q[k].seq != seq)
        k++;
    return park ? k : 0;
}

enum pw_err inmem_uow_held_done(void *self, uint64_t seq, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    char post_id[PW_POST_ID_MAX + 1] = "";
    enum pw_err rc = inmem_uow_need_open(u, err);
    for (size_t i = 0; !rc && i < u->parks.cap && !post_id[0]; i++) {
        struct inmem_park *park = u->parks.slots[i].key ? u->parks.slots[i].val : NULL;
        if (park && park_find(park, seq) < park->nq)
            snprintf(post_id, sizeof post_id, "%s", park->p.post_id);
    }
    pthread_mutex_lock(&u->store->lock);
    for (size_t i = 0; !rc && i < u->store->parks.cap && !post_id[0]; i++) {
        struct inmem_park *park = u->store->parks.slots[i].key ? u->store->parks.slots[i].val : NULL;
        if (park && park_find(park, seq) < park->nq)
            snprintf(post_id, sizeof post_id, "%s", park->p.post_id);
    }
    pthread_mutex_unlock(&u->store->lock);
    if (!rc && !post_id[0])
        return pw_err_set(err, PW_E_TRANSIENT,
                          "serialization failure: held command %llu was run by another "
                          "transaction",
                          (unsigned long long)seq);
    struct inmem_slot *s;
    if (!rc)
        rc = park_view(u, post_id, true, &s, err);
    struct inmem_park *park = rc ? NULL : s->val;
    size_t k = park_find(park, seq);
    if (!park || k == park->nq)
        return rc ? rc
                  : pw_err_set(err, PW_E_TRANSIENT,
                               "serialization failure: held command %llu was run by another "
                               "transaction",
                               (unsigned long long)seq);
    memmove(&park->q[k], &park->q[k + 1], (park->nq - k - 1) * sizeof *park->q);
    park->nq--;
    if (park->p.draining && !park->nq) {
        inmem_park_free(park);
        s->val = NULL;
    }
    return PW_OK;
}

/* The store port's queries, called with the store's lock held. */

/*
 * Whether the last run started at e's held place was e's: e is still held,
 * so that run did not finish (it died, failed, or its process stopped).
 */
static bool held_unfinished(struct pw_inmem_store *st, const struct inmem_held *e)
{
    char key[INMEM_KEY_MAX];
    size_t klen;
    const struct pw_origin *o = &e->h.origin;
    if (inmem_offset_key(key, &klen, o->group ? o->group : "", o->topic ? o->topic : "",
                         PW_HELD_PARTITION, NULL))
        return false;
    struct inmem_slot *s = inmem_map_get(&st->runs, key, klen);
    const struct inmem_run *run = s ? s->val : NULL;
    return run && run->offset == (int64_t)e->h.seq;
}

enum pw_err inmem_held_next(struct pw_inmem_store *st, struct pw_held *h, bool *found,
                            struct pw_errbuf *err)
{
    const struct inmem_held *next = NULL;
    bool unfinished = false;
    for (size_t i = 0; i < st->parks.cap && !unfinished; i++) {
        const struct inmem_park *park = st->parks.slots[i].key ? st->parks.slots[i].val : NULL;
        if (!park || !park->p.draining || !park->nq)
            continue;
        if ((unfinished = held_unfinished(st, park->q[0].e)) || !next ||
            park->q[0].seq < next->h.seq)
            next = park->q[0].e;
    }
    *found = next != NULL;
    if (!next)
        return PW_OK;
    memset(h, 0, sizeof *h);
    if (pw_held_copy_origin(h, &next->h.origin))
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading a held command");
    snprintf(h->post_id, sizeof h->post_id, "%s", next->h.post_id);
    h->seq = next->h.seq;
    h->deaths = next->h.deaths;
    return PW_OK;
}

static int park_cmp(const void *a, const void *b)
{
    return strcmp(((const struct pw_parked *)a)->post_id, ((const struct pw_parked *)b)->post_id);
}

enum pw_err inmem_parked_list(struct pw_inmem_store *st, const char *after,
                              struct pw_parked *out, size_t max, size_t *n)
{
    /* Every parked post after `after`, in order, keeping the first max: the list is short. */
    *n = 0;
    for (size_t i = 0; i < st->parks.cap; i++) {
        const struct inmem_park *park = st->parks.slots[i].key ? st->parks.slots[i].val : NULL;
        if (!park || strcmp(park->p.post_id, after) <= 0)
            continue;
        struct pw_parked p;
        park_show(park, &p);
        p.value = NULL;
        p.value_len = 0;
        if (*n < max) {
            out[(*n)++] = p;
            qsort(out, *n, sizeof *out, park_cmp);
        } else if (max && park_cmp(&p, &out[max - 1]) < 0) {
            out[max - 1] = p;
            qsort(out, *n, sizeof *out, park_cmp);
        }
    }
    return PW_OK;
}

void inmem_parking_stats(struct pw_inmem_store *st, struct pw_parking_stats *stats)
{
    *stats = (struct pw_parking_stats){0};
    int64_t oldest = 0, now = inmem_now_ms();
    for (size_t i = 0; i < st->parks.cap; i++) {
        const struct inmem_park *park = st->parks.slots[i].key ? st->parks.slots[i].val : NULL;
        if (!park)
            continue;
        stats->posts++;
        stats->held += (int64_t)park->nq;
        if (!oldest || park->p.parked_ms < oldest)
            oldest = park->p.parked_ms;
    }
    stats->oldest_ms = oldest ? now - oldest : 0;
}

enum pw_err inmem_release(struct pw_inmem_store *st, const char *post_id, bool dry_run,
                          struct pw_parked *p, bool *found, struct pw_errbuf *err)
{
    struct inmem_slot *s = inmem_map_get(&st->parks, post_id, strlen(post_id));
    struct inmem_park *park = s ? s->val : NULL;
    *found = park && !park->p.draining;
    if (!*found)
        return PW_OK;
    park_show(park, p);
    p->value = NULL;
    p->value_len = 0;
    if (dry_run)
        return PW_OK;
    if (park->p.id[0]) { /* given up: sent again, it is a duplicate */
        char key[INMEM_KEY_MAX];
        size_t klen;
        int created;
        enum pw_err rc = inmem_key(key, &klen, park->p.source, park->p.id, strlen(park->p.id), err);
        struct inmem_slot *mark = rc ? NULL : inmem_map_put(&st->inbox, key, klen, &created);
        if (!rc && !mark)
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory releasing post '%s'", post_id);
        if (rc)
            return rc;
        if (created) {
            mark->val = strdup(park->p.post_id); /* NULL when memory ran out: not known */
            mark->num = INMEM_MARK(park->p.code, 0);
            if (inmem_mark_made(st, mark))
                return pw_err_set(err, PW_E_NOMEM, "out of memory releasing post '%s'", post_id);
        }
    }
    park->p.draining = true;
    inmem_changed(st);
    if (!park->nq) {
        inmem_park_free(park);
        s->val = NULL;
    }
    s->num++;
    return PW_OK;
}
