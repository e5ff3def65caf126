/*
 * An HTTP client (libcurl) for postctl and the tests: one GET, its status,
 * body and ETag. libcurl rather than a socket of our own: timeouts, IPv6,
 * chunked bodies and proxies from the environment are its job.
 */
#ifndef PW_ADAPTERS_CURL_CURL_H
#define PW_ADAPTERS_CURL_CURL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "domain/err.h"

struct pw_http_reply {
    long status;
    char *body; /* NUL-terminated, owned; never NULL after a PW_OK */
    size_t len;
    char etag[64];
    char content_type[96];
};

/*
 * GETs url (with header, "Name: value", when not NULL) within timeout_ms.
 * PW_E_TRANSIENT, with err, when nothing answers; any HTTP status is PW_OK.
 * The caller releases r. Bodies over 64 MiB are refused (PW_E_TOO_LARGE).
 */
enum pw_err pw_curl_get(const char *url, const char *header, long timeout_ms,
                        struct pw_http_reply *r, struct pw_errbuf *err);
void pw_http_reply_release(struct pw_http_reply *r);

/* s percent-encoded for a query string, for the caller to free; NULL when memory runs out. */
char *pw_curl_escape(const char *s);

/*
 * postctl's reads through the worker's read API at base (api_curl.c): each
 * writes what it read to out, for people; err on failure: transient when
 * nothing answers, not_found for no such post, usage for a bad post id,
 * fatal for any other answer.
 */
/* GET /posts/{post_id}: the post as JSON (a deleted one too). */
enum pw_err pw_api_get(const char *base, const char *post_id, FILE *out, struct pw_errbuf *err);

struct pw_api_list_opts {
    const char *author, *deleted, *limit, *after; /* NULL: the API's default */
    bool all;                                     /* follow next to the end */
};

/* GET /posts: a post a line; next (size bytes) the next page's cursor, "" at the end. */
enum pw_err pw_api_list(const char *base, const struct pw_api_list_opts *o, FILE *out,
                        char *next, size_t size, struct pw_errbuf *err);

/*
 * GET /commands?wait=: what became of (source, id), waiting up to seconds,
 * a line on out; *applied only when it was applied.
 */
enum pw_err pw_api_wait(const char *base, const char *source, const char *id, const char *post_id,
                        int seconds, FILE *out, bool *applied, struct pw_errbuf *err);

#endif
