/* The listener's answers: bodies handed to libmicrohttpd, JSON and errors. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/http_int.h"
#include "domain/text.h"

enum MHD_Result http_answer(struct MHD_Connection *c, unsigned status, const char *type,
                            char *body, size_t len, bool ours)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        len, body, ours ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!r) {
        if (ours)
            free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result http_json(struct MHD_Connection *c, unsigned status, json_t *v, const char *etag)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL;
    json_decref(v);
    return text ? http_json_text(c, status, text, strlen(text), etag) : MHD_NO;
}

enum MHD_Result http_json_text(struct MHD_Connection *c, unsigned status, char *text, size_t len,
                               const char *etag)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    /* A post may be kept, and asked again with its ETag; nothing else is. */
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, etag ? "no-cache" : "no-store");
    if (etag)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

enum MHD_Result http_error(struct MHD_Connection *c, unsigned status, const char *code,
                           const char *fmt, ...)
{
    char msg[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return http_json(c, status, json_pack("{s:s, s:o}", "error", code, "message",
                                          http_text_json(msg)), NULL);
}

json_t *http_text_json(const char *s)
{
    json_t *v = json_string(s);
    char *copy = v ? NULL : strdup(s);
    if (copy) {
        pw_text_scrub(copy);
        v = json_string(copy);
        free(copy);
    }
    return v;
}
