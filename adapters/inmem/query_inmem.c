/*
 * The read side on the in-memory store (ports/query.h): each op takes the
 * store's lock, copies out what it answers, and lets go. A page starts at
 * its cursor's place in the store's page order (found by bisection) and
 * reads on until it is full: a page of every post costs its own length, one
 * of a rare author's as long as it takes to find them.
 */
#include "adapters/inmem/inmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/inmem/store.h"

struct inmem_query {
    struct pw_inmem_store *store;
};

static enum pw_err inmem_q_post_get(void *self, const char *post_id, struct pw_post *out,
                                    bool *found, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&st->lock);
    const struct inmem_slot *s = inmem_map_get(&st->posts, post_id, strlen(post_id));
    const struct pw_post *post = s ? s->val : NULL;
    enum pw_err rc = post ? pw_post_copy(out, post) : PW_OK;
    pthread_mutex_unlock(&st->lock);
    *found = post && !rc;
    return rc ? pw_err_set(err, rc, "out of memory reading post '%s'", post_id) : PW_OK;
}

static enum pw_err inmem_q_posts_get(void *self, const char *const *ids, size_t n,
                                     struct pw_post *out, bool *found, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    enum pw_err rc = PW_OK;
    size_t i = 0;
    pthread_mutex_lock(&st->lock);
    for (; i < n && !rc; i++) {
        const struct inmem_slot *s = inmem_map_get(&st->posts, ids[i], strlen(ids[i]));
        const struct pw_post *post = s ? s->val : NULL;
        memset(&out[i], 0, sizeof out[i]);
        found[i] = post != NULL;
        rc = post ? pw_post_copy(&out[i], post) : PW_OK;
    }
    pthread_mutex_unlock(&st->lock);
    if (!rc)
        return PW_OK;
    for (size_t k = 0; k < i; k++)
        pw_post_release(&out[k]);
    return pw_err_set(err, rc, "out of memory reading posts");
}

static bool inmem_q_matches(const struct pw_post *p, const struct pw_posts_filter *f)
{
    bool deleted = pw_post_is_deleted(p);
    if (f->author && strcmp(p->author_name, f->author) != 0)
        return false;
    if ((f->deleted == PW_DELETED_EXCLUDE && deleted) || (f->deleted == PW_DELETED_ONLY && !deleted))
        return false;
    return true;
}

static enum pw_err inmem_q_posts_list(void *self, const struct pw_posts_filter *f,
                                      struct pw_post *out, size_t max, size_t *n, bool *more,
                                      struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    *n = 0;
    *more = false;
    if (max < 1 || max > PW_QUERY_PAGE_MAX)
        return pw_err_set(err, PW_E_FATAL, "a page holds 1 to %d posts", PW_QUERY_PAGE_MAX);
    enum pw_err rc = PW_OK;
    pthread_mutex_lock(&st->lock);
    /* From the cursor's place on, in order: only the filter is left to apply. */
    struct inmem_order_pos i = inmem_order_after(st, f->after, f->after_created, f->after_id);
    const struct inmem_order *o;
    for (; (o = inmem_order_at(st, i)) && *n <= max && !rc; i = inmem_order_next(st, i)) {
        const struct inmem_slot *s = inmem_map_get(&st->posts, o->id, strlen(o->id));
        const struct pw_post *p = s ? s->val : NULL;
        if (!p || !inmem_q_matches(p, f))
            continue;
        if (*n == max) {
            *more = true;
            break;
        }
        rc = pw_post_copy(&out[*n], p);
        *n += !rc;
    }
    pthread_mutex_unlock(&st->lock);
    if (rc) {
        for (size_t k = 0; k < *n; k++)
            pw_post_release(&out[k]);
        *n = 0;
        *more = false;
        return pw_err_set(err, rc, "out of memory reading a page of posts");
    }
    return PW_OK;
}

/* The park whose queue holds seq, or whose failed command is (source, id); NULL if none. */
static const struct inmem_park *inmem_q_park_of(const struct pw_inmem_store *st, uint64_t seq,
                                                const char *source, const char *id)
{
    for (size_t i = 0; i < st->parks.cap; i++) {
        const struct inmem_park *park = st->parks.slots[i].key ? st->parks.slots[i].val : NULL;
        if (!park)
            continue;
        if (!seq && !park->p.draining && park->p.id[0] && strcmp(park->p.source, source) == 0 &&
            strcmp(park->p.id, id) == 0)
            return park;
        for (size_t q = 0; seq && q < park->nq; q++)
            if (park->q[q].seq == seq)
                return park;
    }
    return NULL;
}

static enum pw_err inmem_q_command_get(void *self, const char *source, const char *id,
                                       struct pw_command_status *out, struct pw_errbuf *err)
{
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    *out = (struct pw_command_status){PW_Q_UNKNOWN, PW_OK, "", 0};
    char key[INMEM_KEY_MAX];
    size_t klen;
    enum pw_err rc = inmem_key(key, &klen, source, id, strlen(id), err);
    if (rc) /* longer than any command's: never seen */
        return PW_OK;
    pthread_mutex_lock(&st->lock);
    const struct inmem_slot *mark = inmem_map_get(&st->inbox, key, klen);
    const struct inmem_slot *held = mark ? NULL : inmem_map_get(&st->held_ids, key, klen);
    const struct inmem_park *park = NULL;
    if (mark) {
        pw_command_status_mark(out, INMEM_MARK_OUTCOME(mark->num));
        out->version = INMEM_MARK_VERSION(mark->num);
        if (mark->val)
            snprintf(out->post_id, sizeof out->post_id, "%s", (const char *)mark->val);
    } else if ((park = inmem_q_park_of(st, 0, source, id))) {
        *out = (struct pw_command_status){PW_Q_FAILED, park->p.code, "", 0};
        snprintf(out->post_id, sizeof out->post_id, "%s", park->p.post_id);
    } else if (held && held->num && (park = inmem_q_park_of(st, (uint64_t)held->num, "", ""))) {
        out->outcome = PW_Q_HELD;
        snprintf(out->post_id, sizeof out->post_id, "%s", park->p.post_id);
    }
    pthread_mutex_unlock(&st->lock);
    return PW_OK;
}

static enum pw_err inmem_q_parked_list(void *self, const char *after, struct pw_parked *out,
                                       size_t max, size_t *n, struct pw_errbuf *err)
{
    (void)err;
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    pthread_mutex_lock(&st->lock);
    enum pw_err rc = inmem_parked_list(st, after, out, max, n);
    pthread_mutex_unlock(&st->lock);
    return rc;
}

static void inmem_q_changes_wait(void *self, uint64_t *seen, int timeout_ms)
{
    struct pw_inmem_store *st = ((struct inmem_query *)self)->store;
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->lock);
    while (*seen && st->changes == *seen &&
           pthread_cond_timedwait(&st->changed, &st->lock, &until) != ETIMEDOUT) {
    }
    *seen = st->changes;
    pthread_mutex_unlock(&st->lock);
}

static void inmem_q_close(void *self)
{
    free(self);
}

static const struct pw_query_ops inmem_query_ops = {
    .name = "inmem",
    .batches = false,
    .post_get = inmem_q_post_get,
    .posts_get = inmem_q_posts_get,
    .posts_list = inmem_q_posts_list,
    .command_get = inmem_q_command_get,
    .parked_list = inmem_q_parked_list,
    .changes_wait = inmem_q_changes_wait,
    .close = inmem_q_close,
};

enum pw_err pw_inmem_query_open(struct pw_query *port, struct pw_inmem_store *store)
{
    struct inmem_query *q = malloc(sizeof *q);
    if (!q)
        return PW_E_NOMEM;
    q->store = store;
    *port = (struct pw_query){&inmem_query_ops, q};
    return PW_OK;
}
