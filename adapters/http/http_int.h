/*
 * The listener's insides, shared by its files (internal to adapters/http):
 * the listener itself (http_mhd.c), its answers (answer.c) and the read
 * API (read_http.c), with its cursors (cursor.c).
 */
#ifndef PW_ADAPTERS_HTTP_HTTP_INT_H
#define PW_ADAPTERS_HTTP_HTTP_INT_H

#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "adapters/http/http.h"
#include "domain/post.h"
#include "ports/query.h"

/*
 * A connection the reaper watches: its socket, and since when its request
 * runs; a request that waits on purpose (GET /commands?wait=) adds grace_ms.
 */
struct http_conn {
    int fd;
    int64_t since_ms; /* INT64_MAX once shut */
    int64_t grace_ms;
    bool used;
};

/* A GET /commands?wait= in progress, its connection suspended (wait_http.c). */
struct http_wait;
/* A GET /posts/{id} whose lookup waits to be gathered with others (batch_http.c). */
struct http_lookup;

/* What a suspended request keeps in its state: each kind's struct starts with its kind. */
enum { HTTP_SUSPENDED_WAIT = 1, HTTP_SUSPENDED_LOOKUP = 2 };

struct pw_http {
    struct MHD_Daemon *daemon;
    const struct pw_metrics *m;
    struct pw_query *_Atomic query; /* the read API's; NULL until the store is open */
    bool serve_only;                /* postworker serve: no loop, no Kafka */
    int port;
    pw_log_fn log;
    pthread_mutex_t lock; /* conns and the log's repeat count */
    struct http_conn conns[PW_HTTP_CONNECTIONS];
    pthread_t reaper;
    bool reaping;
    atomic_bool stopping;
    int64_t said_ms; /* when a line was last logged, and how many were held back since */
    unsigned held;
    pthread_mutex_t wait_lock; /* waiting and waits_closed */
    struct http_wait *waiting; /* suspended waits, that the waiter thread answers */
    bool waits_closed;         /* no waiter, or it took its last list: a wait answers at once */
    pthread_t waiter;
    bool waiter_running;
    unsigned waits_at_stop; /* the waits answered "unknown" because the listener stops */
    pthread_mutex_t lookup_lock; /* lookups and lookups_closed */
    pthread_cond_t lookup_cond;  /* a lookup joined, or the listener stops */
    struct http_lookup *lookups; /* gathered for the batcher */
    bool lookups_closed;         /* no batcher, or it took its last list */
    pthread_t batcher;
    bool batching;
};

/* The first call of a request (headers in) marks *state with this; read_http.c a wait's. */
extern int http_first_call;

/* Queues body (len bytes; freed by libmicrohttpd when ours, else static) with status. */
enum MHD_Result http_answer(struct MHD_Connection *c, unsigned status, const char *type,
                            char *body, size_t len, bool ours);
/* Queues a JSON error body: {"error": code, "message": text}. */
enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *code,
                           const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Queues v (taken) as a JSON body, with an ETag when etag is not NULL. */
enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *v,
                          const char *etag);
/* Queues text (len bytes of JSON, taken) as http_json does. */
enum MHD_Result http_json_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
                               const char *etag);
/* s as a JSON string, its bytes made valid UTF-8 first if they are not. */
json_t *http_text_json(const char *s);

/*
 * A body being written (post_json.c): p holds len bytes and a NUL, or is
 * NULL; once a write fails (out of memory) failed is set and the rest are
 * ignored. http_out_take gives p to the caller (NULL if a write failed).
 */
struct http_out {
    char *p;
    size_t len, cap;
    bool failed;
};
void http_out_put(struct http_out *o, const char *s, size_t n);
void http_out_str(struct http_out *o, const char *s);
char *http_out_take(struct http_out *o);
/* p as JSON, an event's data: {"post_id":..., ..., "deleted_at":null}. */
void http_post_json(struct http_out *o, const struct pw_post *p);

/* Lets the request on c run ms longer before the reaper cuts it. */
void http_grace(struct pw_http *h, struct MHD_Connection *c, int64_t ms);

/*
 * The read API's routes: /posts, /posts/{id}, /commands, /parked; false if
 * url is not one. state is the request's (a wait keeps itself there).
 */
bool http_read_route(struct pw_http *h, struct MHD_Connection *c, const char *url, void **state,
                     enum MHD_Result *result);

/*
 * The thread that answers suspended waits as commits come (or their time
 * ends); started with the query port, stopped (answering every wait
 * "unknown") before the daemon is. A finished request's wait is freed with
 * http_wait_free.
 */
bool http_waiter_start(struct pw_http *h);
/*
 * Suspends c's request to wait, at most wait_s, for (source, id) to have an
 * outcome; seen is the store's count of changes before st (unknown) was
 * read. False (nothing done) when it cannot wait: answer st at once.
 */
bool http_wait_begin(struct pw_http *h, struct MHD_Connection *c, void **state,
                     const char *source, const char *id, const char *post_id, long wait_s,
                     uint64_t seen, const struct pw_command_status *st);
/*
 * Suspends c's GET /posts/{post_id} to be read with others (batch_http.c);
 * false (nothing done) when it cannot: read it at once. Resumed, its
 * result is taken with http_lookup_result: false when the store failed
 * (err), else *found and *post (the caller's to release).
 */
bool http_lookup_begin(struct pw_http *h, struct MHD_Connection *c, void **state,
                       const char *post_id);
bool http_lookup_result(void *state, struct pw_post *post, bool *found, struct pw_errbuf *err);
bool http_batcher_start(struct pw_http *h);
void http_batcher_stop(struct pw_http *h);
void http_lookup_free(void *state);
/* Frees a suspended request's state, whatever its kind. */
void http_suspended_free(void *state);

/* The answer of a resumed wait (state is its). */
enum MHD_Result http_wait_answer(struct MHD_Connection *c, void *state);
/* {"outcome", "code", "post_id", "version"}: GET /commands' answer. */
enum MHD_Result http_command_answer(struct MHD_Connection *c, const struct pw_command_status *st);
void http_waiter_stop(struct pw_http *h);
void http_wait_free(void *state);

/*
 * A page cursor: where the last page ended (created_at, post_id), bound to
 * the page's filter (author, deleted) so that a cursor of another listing
 * is refused. Opaque to clients: base64url, with a check sum over all.
 */
#define HTTP_CURSOR_MAX 160
void http_cursor_encode(const char *author, enum pw_deleted_filter deleted, pw_time created,
                        const char *post_id, char out[HTTP_CURSOR_MAX + 1]);
/* False for anything not made by http_cursor_encode for this same filter. */
bool http_cursor_decode(const char *text, const char *author, enum pw_deleted_filter deleted,
                        pw_time *created, char post_id[PW_POST_ID_MAX + 1]);

#endif
