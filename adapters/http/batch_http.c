/*
 * Lookups of posts gathered across requests. Where the store's posts_get
 * costs one round trip however many it reads (ports/query.h, batches), a
 * GET /posts/{id} suspends its connection and joins a list; one thread
 * takes the whole list, reads it in one call, and resumes each request,
 * which answers from what was read. Under load a round trip then serves
 * many readers; alone, a lookup waits only for the thread to wake.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/http_int.h"

struct http_lookup {
    int kind; /* HTTP_SUSPENDED_LOOKUP: first, as every suspended request's */
    struct http_lookup *next;
    struct MHD_Connection *c;
    char post_id[PW_POST_ID_MAX + 1];
    bool found, failed;
    struct pw_post post; /* found: the caller's to release, or the free's */
    struct pw_errbuf err;
};

bool http_lookup_begin(struct pw_http *h, struct MHD_Connection *c, void **state,
                       const char *post_id)
{
    pthread_mutex_lock(&h->lookup_lock);
    struct http_lookup *l = h->lookups_closed ? NULL : calloc(1, sizeof *l);
    if (!l) {
        pthread_mutex_unlock(&h->lookup_lock);
        return false;
    }
    l->kind = HTTP_SUSPENDED_LOOKUP;
    l->c = c;
    snprintf(l->post_id, sizeof l->post_id, "%s", post_id);
    *state = l;
    MHD_suspend_connection(c);
    l->next = h->lookups;
    h->lookups = l;
    pthread_cond_signal(&h->lookup_cond);
    pthread_mutex_unlock(&h->lookup_lock);
    return true;
}

bool http_lookup_result(void *state, struct pw_post *post, bool *found, struct pw_errbuf *err)
{
    struct http_lookup *l = state;
    *found = l->found;
    if (l->found) {
        *post = l->post; /* moved: the caller releases it */
        memset(&l->post, 0, sizeof l->post);
        l->found = false;
    }
    *err = l->err;
    return !l->failed;
}

void http_lookup_free(void *state)
{
    struct http_lookup *l = state;
    pw_post_release(&l->post);
    free(l);
}

/* Reads list's posts, PW_QUERY_BATCH_MAX at a time, and resumes each request. */
static void lookups_answer(struct pw_query *q, struct http_lookup *list)
{
    while (list) {
        struct http_lookup *batch[PW_QUERY_BATCH_MAX];
        const char *ids[PW_QUERY_BATCH_MAX];
        struct pw_post posts[PW_QUERY_BATCH_MAX];
        bool found[PW_QUERY_BATCH_MAX];
        size_t n = 0;
        for (; list && n < PW_QUERY_BATCH_MAX; list = list->next, n++) {
            batch[n] = list;
            ids[n] = list->post_id;
        }
        struct pw_errbuf err;
        bool ok = q && pw_query_posts_get(q, ids, n, posts, found, &err) == PW_OK;
        for (size_t i = 0; i < n; i++) {
            struct http_lookup *l = batch[i];
            l->failed = !ok;
            if (!ok)
                l->err = err;
            l->found = ok && found[i];
            if (l->found)
                l->post = posts[i];
            MHD_resume_connection(l->c); /* its handler answers; l is freed after */
        }
    }
}

static void *batcher_run(void *arg)
{
    struct pw_http *h = arg;
    struct pw_query *q = atomic_load(&h->query);
    for (;;) {
        pthread_mutex_lock(&h->lookup_lock);
        while (!h->lookups && !atomic_load(&h->stopping))
            pthread_cond_wait(&h->lookup_cond, &h->lookup_lock);
        struct http_lookup *list = h->lookups;
        h->lookups = NULL;
        bool stopping = atomic_load(&h->stopping);
        h->lookups_closed = stopping; /* the last list: no lookup joins after it */
        pthread_mutex_unlock(&h->lookup_lock);
        lookups_answer(q, list);
        if (stopping)
            return NULL;
    }
}

bool http_batcher_start(struct pw_http *h)
{
    h->batching = pthread_create(&h->batcher, NULL, batcher_run, h) == 0;
    pthread_mutex_lock(&h->lookup_lock);
    h->lookups_closed = !h->batching;
    pthread_mutex_unlock(&h->lookup_lock);
    return h->batching;
}

void http_batcher_stop(struct pw_http *h)
{
    if (!h->batching)
        return;
    pthread_mutex_lock(&h->lookup_lock);
    pthread_cond_broadcast(&h->lookup_cond); /* stopping is set: it takes its last list */
    pthread_mutex_unlock(&h->lookup_lock);
    pthread_join(h->batcher, NULL);
    h->batching = false;
}
