/*
 * An HTTP client (libcurl) for postctl and the tests: one GET, its status,
 * body and ETag. libcurl rather than a socket of our own: timeouts, IPv6,
 * chunked bodies and proxies from the environment are its job.
 */
#ifndef PW_ADAPTERS_CURL_CURL_H
#define PW_ADAPTERS_CURL_CURL_H

#include <stddef.h>

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

#endif
