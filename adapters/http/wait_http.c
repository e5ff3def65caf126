/*
 * Waits: a GET /commands?wait= whose command has no outcome yet suspends
 * its connection, and one thread answers every wait, asking the store
 * again only when it committed something (ports/query.h), or when a wait's
 * time is up. When the listener stops, every wait left is answered.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/http/http_int.h"

/*
 * A suspended GET /commands?wait=: what it asks, until when, the count of
 * commits it last looked at, and once done its answer. On the waiter
 * thread's list while suspended; freed when its request is done.
 */
struct http_wait {
    int kind; /* HTTP_SUSPENDED_WAIT: first, as every suspended request's */
    struct http_wait *next;
    struct MHD_Connection *c;
    char source[PW_CMD_SOURCE_BYTES + 1], id[PW_CMD_ID_BYTES + 1], post_id[PW_POST_ID_MAX + 1];
    int64_t until_ms; /* monotonic */
    uint64_t seen;    /* the store's count of changes when it last asked */
    bool failed;
    struct pw_command_status st;
    struct pw_errbuf err;
};

bool http_wait_begin(struct pw_http *h, struct MHD_Connection *c, void **state,
                     const char *source, const char *id, const char *post_id, long wait_s,
                     uint64_t seen, const struct pw_command_status *st)
{
    /*
     * Under the lock the waiter takes its last list with: a wait either
     * joins a list the waiter will answer, or is answered here at once. A
     * connection left suspended would make the daemon's stop abort.
     */
    pthread_mutex_lock(&h->wait_lock);
    struct http_wait *w = h->waits_closed ? NULL : calloc(1, sizeof *w);
    if (!w) {
        pthread_mutex_unlock(&h->wait_lock);
        return false;
    }
    w->kind = HTTP_SUSPENDED_WAIT;
    w->c = c;
    snprintf(w->source, sizeof w->source, "%s", source);
    snprintf(w->id, sizeof w->id, "%s", id);
    snprintf(w->post_id, sizeof w->post_id, "%s", post_id ? post_id : "");
    w->until_ms = pw_metrics_mono_ms() + wait_s * 1000;
    w->seen = seen;
    w->st = *st;
    *state = w;
    http_grace(h, c, wait_s * 1000);
    MHD_suspend_connection(c);
    w->next = h->waiting;
    h->waiting = w;
    pthread_mutex_unlock(&h->wait_lock);
    return true;
}

enum MHD_Result http_wait_answer(struct MHD_Connection *c, void *state)
{
    struct http_wait *w = state;
    if (w->failed)
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                          "the store did not answer: %s", w->err.msg);
    return http_command_answer(c, &w->st);
}

void http_wait_free(void *state)
{
    free(state);
}

void http_suspended_free(void *state)
{
    if (*(int *)state == HTTP_SUSPENDED_LOOKUP)
        http_lookup_free(state);
    else
        http_wait_free(state);
}

/*
 * Answers the waits on list whose store changed since they last looked, or
 * whose time is up; returns the rest. All of them when stopping.
 */
static struct http_wait *waits_check(struct pw_query *q, uint64_t seen, struct http_wait *list,
                                     bool stopping)
{
    struct http_wait *left = NULL, *next;
    int64_t now = pw_metrics_mono_ms();
    for (struct http_wait *w = list; w; w = next) {
        next = w->next;
        /* Changed, or its time is up: a commit that woke nobody (no NOTIFY) counts too. */
        if (!stopping && (w->seen != seen || now >= w->until_ms)) {
            w->seen = seen;
            w->failed = pw_query_command_get(q, w->source, w->id, w->post_id[0] ? w->post_id : NULL,
                                             &w->st, &w->err) != PW_OK;
        }
        if (stopping || w->failed || w->st.outcome != PW_Q_UNKNOWN || now >= w->until_ms) {
            MHD_resume_connection(w->c); /* its handler answers, then the wait is freed */
        } else {
            w->next = left;
            left = w;
        }
    }
    return left;
}

static void *waiter_run(void *arg)
{
    struct pw_http *h = arg;
    struct pw_query *q = atomic_load(&h->query);
    uint64_t seen = 0;
    for (;;) {
        bool stopping = atomic_load(&h->stopping);
        pthread_mutex_lock(&h->wait_lock);
        struct http_wait *list = h->waiting;
        h->waiting = NULL;
        h->waits_closed = stopping; /* the last list: no wait joins after it */
        pthread_mutex_unlock(&h->wait_lock);
        if (stopping)
            for (struct http_wait *w = list; w; w = w->next)
                h->waits_at_stop++;
        struct http_wait *left = waits_check(q, seen, list, stopping);
        pthread_mutex_lock(&h->wait_lock);
        while (left) {
            struct http_wait *w = left;
            left = w->next;
            w->next = h->waiting;
            h->waiting = w;
        }
        pthread_mutex_unlock(&h->wait_lock);
        if (stopping)
            return NULL;
        /* Until the store commits, or a tick for the waits whose time ends. */
        pw_query_changes_wait(q, &seen, 200);
    }
}

bool http_waiter_start(struct pw_http *h)
{
    pthread_mutex_lock(&h->wait_lock);
    h->waits_closed = true; /* until it runs */
    pthread_mutex_unlock(&h->wait_lock);
    h->waiter_running = pthread_create(&h->waiter, NULL, waiter_run, h) == 0;
    if (h->waiter_running) {
        pthread_mutex_lock(&h->wait_lock);
        h->waits_closed = false;
        pthread_mutex_unlock(&h->wait_lock);
    }
    return h->waiter_running;
}

void http_waiter_stop(struct pw_http *h)
{
    if (!h->waiter_running)
        return;
    pthread_join(h->waiter, NULL); /* it answers every wait left, seeing stopping */
    h->waiter_running = false;
    if (h->waits_at_stop) /* a moment for their answers ("unknown") to go out first */
        nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
}

