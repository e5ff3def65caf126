/*
 * The in-memory unit of work's commit: under the store's lock, first check
 * that nothing the overlay read has changed since (a transient error if it
 * has, as a database's serialization failure), then move the overlay into
 * the store. The check makes room for everything the move needs, so that
 * once it passes only a failed key allocation can stop the move.
 */
#include "adapters/inmem/uow_inmem.h"

#include <stdlib.h>
#include <string.h>

static enum pw_err commit_check_posts(struct inmem_uow *u, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = u->store;
    for (size_t i = 0; i < u->posts.cap; i++) {
        struct inmem_slot *s = &u->posts.slots[i];
        if (!s->key)
            continue;
        struct inmem_slot *base = inmem_map_get(&st->posts, s->key, s->klen);
        int64_t version = base ? ((struct pw_post *)base->val)->version : 0;
        if (version != s->num)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "serialization failure: post '%s' changed under this transaction",
                              ((struct pw_post *)s->val)->post_id);
    }
    for (size_t i = 0; i < u->inbox.cap; i++) {
        struct inmem_slot *s = &u->inbox.slots[i];
        if (s->key && inmem_map_get(&st->inbox, s->key, s->klen))
            return pw_err_set(err, PW_E_TRANSIENT,
                              "serialization failure: a command was processed by another transaction");
    }
    return PW_OK;
}

/* A parked post changed since it was read, or a command this one holds was held meanwhile. */
static enum pw_err commit_check_parks(struct inmem_uow *u, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = u->store;
    for (size_t i = 0; i < u->parks.cap; i++) {
        struct inmem_slot *s = &u->parks.slots[i];
        if (!s->key)
            continue;
        struct inmem_slot *base = inmem_map_get(&st->parks, s->key, s->klen);
        if ((base ? base->num : 0) != s->num)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "serialization failure: parked post '%.*s' changed under this "
                              "transaction",
                              (int)s->klen, s->key);
    }
    for (size_t i = 0; i < u->held_ids.cap; i++) {
        struct inmem_slot *s = &u->held_ids.slots[i];
        struct inmem_slot *base = s->key ? inmem_map_get(&st->held_ids, s->key, s->klen) : NULL;
        if (base && base->num)
            return pw_err_set(err, PW_E_TRANSIENT,
                              "serialization failure: a command was held by another transaction");
    }
    return PW_OK;
}

/* Room in the outbox for this transaction's rows. */
static enum pw_err commit_outbox_room(struct inmem_uow *u, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = u->store;
    size_t live = st->outbox_len - st->outbox_head, rows = u->events.n + u->dead.n;
    if (st->outbox_head > 0 && st->outbox_len + rows > st->outbox_cap) {
        memmove(st->outbox, st->outbox + st->outbox_head, live * sizeof *st->outbox);
        st->outbox_head = 0;
        st->outbox_len = live;
    }
    if (st->outbox_len + rows > st->outbox_cap) {
        size_t cap = st->outbox_cap ? st->outbox_cap : 64;
        while (cap < st->outbox_len + rows)
            cap *= 2;
        struct inmem_outbox_row *grown = realloc(st->outbox, cap * sizeof *grown);
        if (!grown)
            return pw_err_set(err, PW_E_NOMEM, "out of memory growing the outbox");
        st->outbox = grown;
        st->outbox_cap = cap;
    }
    return PW_OK;
}

static void commit_held_id(struct pw_inmem_store *st, const struct inmem_held *e, int64_t seq)
{
    char key[INMEM_KEY_MAX];
    size_t klen;
    int created;
    if (inmem_key(key, &klen, e->source, e->id, strlen(e->id), NULL))
        return;
    struct inmem_slot *s = seq ? inmem_map_put(&st->held_ids, key, klen, &created)
                               : inmem_map_get(&st->held_ids, key, klen);
    if (s)
        s->num = seq;
}

/*
 * The overlay's parked posts replace the store's: entries that left a
 * queue are freed, new ones become the store's, and each version moves on.
 */
static enum pw_err commit_parks(struct inmem_uow *u, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = u->store;
    int created;
    for (size_t i = 0; i < u->parks.cap; i++) {
        struct inmem_slot *s = &u->parks.slots[i];
        if (!s->key)
            continue;
        struct inmem_slot *base = inmem_map_put(&st->parks, s->key, s->klen, &created);
        if (!base)
            return pw_err_set(err, PW_E_NOMEM, "out of memory committing: the store is now unreliable");
        struct inmem_park *old = base->val, *new = s->val;
        /*
         * The copy's queue in the store's form, in one walk of both (each in
         * seq order): an entry the store holds is taken by seq, a new one
         * becomes the store's, and one that left the queue is done with.
         */
        size_t o = 0, nold = old ? old->nq : 0, nnew = new ? new->nq : 0;
        for (size_t j = 0; j < nnew; j++) {
            struct inmem_qent *q = &new->q[j];
            for (; o < nold && old->q[o].seq < q->seq; o++) {
                commit_held_id(st, old->q[o].e, 0);
                inmem_held_free(old->q[o].e);
            }
            if (o < nold && old->q[o].seq == q->seq) {
                q->e = old->q[o++].e;
                continue;
            }
            if (!q->e) /* the version check makes this impossible */
                return pw_err_set(err, PW_E_FATAL, "held command %llu is gone from the store",
                                  (unsigned long long)q->seq);
            commit_held_id(st, q->e, (int64_t)q->seq);
            for (size_t f = 0; f < u->nfresh; f++)
                if (u->fresh[f] == q->e)
                    u->fresh[f] = NULL;
        }
        for (; o < nold; o++) {
            commit_held_id(st, old->q[o].e, 0);
            inmem_held_free(old->q[o].e);
        }
        inmem_park_free(old);
        if (new)
            new->version = (uint64_t)s->num + 1;
        base->val = new;
        base->num = s->num + 1;
        s->val = NULL;
    }
    return PW_OK;
}

static enum pw_err commit_apply(struct inmem_uow *u, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = u->store;
    int created;
    for (size_t i = 0; i < u->posts.cap; i++) {
        struct inmem_slot *s = &u->posts.slots[i];
        if (!s->key)
            continue;
        struct inmem_slot *base = inmem_map_put(&st->posts, s->key, s->klen, &created);
        if (!base || (created && inmem_order_add(st, s->val)))
            return pw_err_set(err, PW_E_NOMEM, "out of memory committing: the store is now unreliable");
        inmem_post_free(base->val);
        base->val = s->val;
        s->val = NULL;
    }
    struct inmem_map *maps[][2] = {{&u->inbox, &st->inbox}, {&u->offsets, &st->offsets}};
    for (size_t m = 0; m < 2; m++) {
        struct inmem_map *from = maps[m][0], *to = maps[m][1];
        for (size_t i = 0; i < from->cap; i++) {
            struct inmem_slot *s = &from->slots[i];
            if (!s->key)
                continue;
            struct inmem_slot *base = inmem_map_put(to, s->key, s->klen, &created);
            if (!base)
                return pw_err_set(err, PW_E_NOMEM,
                                  "out of memory committing: the store is now unreliable");
            /* An offset never moves backwards; an inbox mark is only ever new. */
            if (created || s->num > base->num)
                base->num = s->num;
            if (created && m == 0) { /* an inbox mark's post_id moves to the store */
                base->val = s->val;
                s->val = NULL;
                if (inmem_mark_made(st, base))
                    return pw_err_set(err, PW_E_NOMEM,
                                      "out of memory committing: the store is now unreliable");
            }
        }
    }
    enum pw_err rc = commit_parks(u, err);
    if (rc)
        return rc;
    struct inmem_rows *kinds[] = {&u->events, &u->dead};
    int64_t now = inmem_now_ms();
    for (size_t k = 0; k < 2; k++) {
        for (size_t i = 0; i < kinds[k]->n; i++) {
            struct inmem_outbox_row *row = &st->outbox[st->outbox_len++];
            row->seq = st->next_seq++;
            row->committed_ms = now;
            row->removed = false;
            row->out = kinds[k]->v[i];
        }
        kinds[k]->n = 0; /* moved into the store */
    }
    return PW_OK;
}

enum pw_err inmem_uow_commit(void *self, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&u->store->lock);
    rc = commit_check_posts(u, err);
    if (!rc)
        rc = commit_check_parks(u, err);
    if (!rc)
        rc = commit_outbox_room(u, err);
    if (!rc)
        rc = commit_apply(u, err);
    if (!rc)
        inmem_changed(u->store);
    pthread_mutex_unlock(&u->store->lock);
    inmem_uow_drop(u);
    return rc;
}
