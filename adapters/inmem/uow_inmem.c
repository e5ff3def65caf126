/*
 * The in-memory unit of work. A transaction writes into an overlay of its
 * own (posts, inbox marks, offsets, events, parking) and reads through it to
 * the store; commit (commit_inmem.c) moves the overlay into the store under
 * the store's lock, and rollback drops it. So a rolled-back batch leaves no
 * trace at all. This file is the transaction and its overlay; parking's
 * operations are in park_inmem.c.
 *
 * Like a database under concurrent transactions, commit refuses (with a
 * transient error) when another unit of work committed a change to the same
 * post, inbox mark or parked post since this one read it: two workers
 * sharing a store can race, but they cannot both apply.
 */
#include "adapters/inmem/inmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/inmem/uow_inmem.h"

static void inmem_rows_clear(struct inmem_rows *rows)
{
    for (size_t i = 0; i < rows->n; i++)
        pw_out_release(&rows->v[i]);
    rows->n = 0;
}

/* A new zeroed row at the end of rows for topic; NULL when memory runs out. */
static struct pw_out *inmem_rows_add(struct inmem_rows *rows, enum pw_out_kind kind,
                                     const char *topic)
{
    if (rows->n == rows->cap) {
        size_t cap = rows->cap ? rows->cap * 2 : 16;
        struct pw_out *v = realloc(rows->v, cap * sizeof *v);
        if (!v)
            return NULL;
        rows->v = v;
        rows->cap = cap;
    }
    struct pw_out *out = &rows->v[rows->n];
    memset(out, 0, sizeof *out);
    out->kind = kind;
    snprintf(out->topic, sizeof out->topic, "%s", topic);
    return out;
}

void inmem_uow_drop(struct inmem_uow *u)
{
    inmem_map_clear(&u->posts, inmem_post_free);
    inmem_map_clear(&u->inbox, free);
    inmem_map_clear(&u->offsets, NULL);
    inmem_map_clear(&u->parks, inmem_park_free);
    inmem_map_clear(&u->held_ids, NULL);
    for (size_t i = 0; i < u->nfresh; i++)
        inmem_held_free(u->fresh[i]); /* a commit took those it kept: these are NULL */
    u->nfresh = 0;
    inmem_rows_clear(&u->events);
    inmem_rows_clear(&u->dead);
    u->open = false;
}

enum pw_err inmem_uow_need_open(struct inmem_uow *u, struct pw_errbuf *err)
{
    if (!u->open)
        return pw_err_set(err, PW_E_FATAL, "no transaction is open: call begin first");
    return PW_OK;
}

/* The post as this transaction sees it (overlay, then store); NULL if none. Call with the lock held for the store. */
static const struct pw_post *inmem_visible(struct inmem_uow *u, const char *post_id)
{
    size_t len = strlen(post_id);
    struct inmem_slot *s = inmem_map_get(&u->posts, post_id, len);
    if (s)
        return s->val;
    s = inmem_map_get(&u->store->posts, post_id, len);
    return s ? s->val : NULL;
}

static enum pw_err inmem_repo_get(void *self, const char *post_id, struct pw_post *post,
                                  struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&u->store->lock);
    const struct pw_post *cur = inmem_visible(u, post_id);
    rc = cur ? pw_post_copy(post, cur) : PW_E_NOT_FOUND;
    pthread_mutex_unlock(&u->store->lock);
    if (rc == PW_E_NOT_FOUND)
        return pw_err_set(err, rc, "post '%s' does not exist", post_id);
    if (rc)
        return pw_err_set(err, rc, "out of memory reading post '%s'", post_id);
    return PW_OK;
}

/* Puts a copy of post into the overlay; expect is the version it must replace (0: none). */
static enum pw_err inmem_stage_post(struct inmem_uow *u, const struct pw_post *post,
                                    int64_t expect, struct pw_errbuf *err)
{
    struct pw_post *copy = malloc(sizeof *copy);
    if (!copy || pw_post_copy(copy, post)) {
        free(copy);
        return pw_err_set(err, PW_E_NOMEM, "out of memory staging post '%s'", post->post_id);
    }
    int created;
    struct inmem_slot *s = inmem_map_put(&u->posts, post->post_id, strlen(post->post_id), &created);
    if (!s) {
        inmem_post_free(copy);
        return pw_err_set(err, PW_E_NOMEM, "out of memory staging post '%s'", post->post_id);
    }
    if (created)
        s->num = expect; /* what the store must still hold at commit */
    inmem_post_free(s->val);
    s->val = copy;
    return PW_OK;
}

/* The version of post_id as this transaction sees it; 0 if there is none. */
static enum pw_err inmem_version(struct inmem_uow *u, const char *post_id, int64_t *version,
                                 struct pw_errbuf *err)
{
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&u->store->lock);
    const struct pw_post *cur = inmem_visible(u, post_id);
    *version = cur ? cur->version : 0;
    pthread_mutex_unlock(&u->store->lock);
    return PW_OK;
}

static enum pw_err inmem_repo_add(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    int64_t version;
    enum pw_err rc = inmem_version(self, post->post_id, &version, err);
    if (rc)
        return rc;
    if (version)
        return pw_err_set(err, PW_E_ALREADY_EXISTS, "post '%s' already exists", post->post_id);
    return inmem_stage_post(self, post, 0, err);
}

static enum pw_err inmem_repo_save(void *self, const struct pw_post *post, struct pw_errbuf *err)
{
    int64_t version;
    enum pw_err rc = inmem_version(self, post->post_id, &version, err);
    if (rc)
        return rc;
    if (!version)
        return pw_err_set(err, PW_E_NOT_FOUND, "post '%s' does not exist", post->post_id);
    if (version != post->version - 1)
        return pw_err_set(err, PW_E_VERSION_CONFLICT, "post '%s' is at version %lld, not %lld",
                          post->post_id, (long long)version, (long long)post->version - 1);
    /* Not yet in the overlay, the visible version is the store's: what commit checks. */
    return inmem_stage_post(self, post, version, err);
}

static const struct pw_repo_ops inmem_repo_ops = {
    .name = "inmem",
    .get = inmem_repo_get,
    .add = inmem_repo_add,
    .save = inmem_repo_save,
};

static enum pw_err inmem_uow_begin(void *self, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    if (u->open)
        return pw_err_set(err, PW_E_FATAL, "a transaction is already open");
    u->open = true;
    return PW_OK;
}

static struct pw_repo inmem_uow_posts(void *self)
{
    return (struct pw_repo){.ops = &inmem_repo_ops, .self = self};
}

/* The inbox key of (source, id), inside an open transaction. */
static enum pw_err inmem_inbox_key(struct inmem_uow *u, const char *source, const char *id,
                                   char key[INMEM_KEY_MAX], size_t *klen, struct pw_errbuf *err)
{
    enum pw_err rc = inmem_uow_need_open(u, err);
    return rc ? rc : inmem_key(key, klen, source, id, strlen(id), err);
}

static enum pw_err inmem_uow_inbox_get(void *self, const char *source, const char *id, bool *found,
                                       enum pw_err *outcome, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    char key[INMEM_KEY_MAX];
    size_t klen;
    enum pw_err rc = inmem_inbox_key(u, source, id, key, &klen, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&u->store->lock);
    struct inmem_slot *s = inmem_map_get(&u->inbox, key, klen);
    if (!s)
        s = inmem_map_get(&u->store->inbox, key, klen);
    *found = s != NULL;
    if (s)
        *outcome = INMEM_MARK_OUTCOME(s->num);
    pthread_mutex_unlock(&u->store->lock);
    return PW_OK;
}

static enum pw_err inmem_uow_inbox_put(void *self, const char *source, const char *id,
                                       enum pw_err outcome, const char *post_id, int64_t version,
                                       struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    char key[INMEM_KEY_MAX];
    size_t klen;
    int created;
    enum pw_err rc = inmem_inbox_key(u, source, id, key, &klen, err);
    if (rc)
        return rc;
    struct inmem_slot *s = inmem_map_put(&u->inbox, key, klen, &created);
    char *pid = post_id ? strdup(post_id) : NULL;
    if (!s || (post_id && !pid)) {
        free(pid);
        return pw_err_set(err, PW_E_NOMEM, "out of memory marking command '%s'", id);
    }
    free(s->val);
    s->val = pid;
    s->num = INMEM_MARK(outcome, version);
    return PW_OK;
}

static enum pw_err inmem_uow_outbox_put(void *self, const char *topic, struct pw_event *ev,
                                        struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pw_out *out = inmem_rows_add(&u->events, PW_OUT_EVENT, topic);
    if (!out)
        return pw_err_set(err, PW_E_NOMEM, "out of memory recording event");
    out->ev = *ev;
    memset(ev, 0, sizeof *ev);
    u->events.n++;
    return PW_OK;
}

static enum pw_err inmem_uow_dead_letter_put(void *self, const char *topic,
                                             const struct pw_dead_letter *dl,
                                             struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (rc)
        return rc;
    struct pw_out *out = inmem_rows_add(&u->dead, PW_OUT_DEAD_LETTER, topic);
    if (!out || pw_dead_letter_copy(&out->dl, dl))
        return pw_err_set(err, PW_E_NOMEM, "out of memory recording a dead letter");
    u->dead.n++;
    return PW_OK;
}

static enum pw_err inmem_uow_offset_put(void *self, const char *group, const char *topic,
                                        int32_t partition, int64_t offset, struct pw_errbuf *err)
{
    struct inmem_uow *u = self;
    char key[INMEM_KEY_MAX];
    size_t klen;
    int created;
    enum pw_err rc = inmem_uow_need_open(u, err);
    if (!rc)
        rc = inmem_offset_key(key, &klen, group, topic, partition, err);
    if (rc)
        return rc;
    struct inmem_slot *s = inmem_map_put(&u->offsets, key, klen, &created);
    if (!s)
        return pw_err_set(err, PW_E_NOMEM, "out of memory storing an offset");
    if (created || offset > s->num)
        s->num = offset;
    return PW_OK;
}

static void inmem_uow_rollback(void *self)
{
    inmem_uow_drop(self);
}

static void inmem_uow_close(void *self)
{
    struct inmem_uow *u = self;
    if (!u)
        return;
    inmem_uow_drop(u);
    free(u->fresh);
    free(u->events.v);
    free(u->dead.v);
    free(u);
}

static const struct pw_uow_ops inmem_uow_ops = {
    .name = "inmem",
    .begin = inmem_uow_begin,
    .commit = inmem_uow_commit,
    .rollback = inmem_uow_rollback,
    .posts = inmem_uow_posts,
    .inbox_get = inmem_uow_inbox_get,
    .inbox_put = inmem_uow_inbox_put,
    .outbox_put = inmem_uow_outbox_put,
    .dead_letter_put = inmem_uow_dead_letter_put,
    .offset_put = inmem_uow_offset_put,
    .parked_get = inmem_uow_parked_get,
    .park = inmem_uow_park,
    .unpark = inmem_uow_unpark,
    .hold = inmem_uow_hold,
    .held_get = inmem_uow_held_get,
    .held_done = inmem_uow_held_done,
    .prefetch = NULL,
    .close = inmem_uow_close,
};

enum pw_err pw_inmem_uow_open(struct pw_uow *uow, struct pw_inmem_store *store)
{
    struct inmem_uow *u = calloc(1, sizeof *u);
    if (!u)
        return PW_E_NOMEM;
    u->store = store;
    uow->ops = &inmem_uow_ops;
    uow->self = u;
    return PW_OK;
}
