/*
 * The read API (the contract's "Reading: HTTP"), answered from the query
 * port on the connection's own thread:
 *
 *   GET /posts/{post_id}   the post, ETag "VERSION"; 304, 404, 410 (deleted)
 *   GET /posts?author=&deleted=&limit=&after=   a page, and the next cursor
 *   GET /commands?source=&id=[&post_id=][&wait=]   what became of a command
 *   GET /parked            the parked posts
 *
 * Every parameter is checked before the store is asked: a parameter we do
 * not know, one given twice, or one out of its bounds is a 400 that says
 * which. A wait suspends its connection: one thread answers every wait,
 * asking the store again only when it committed something (ports/query.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/http/http_int.h"
#include "domain/command.h"
#include "domain/text.h"
#include "domain/time.h"

#define HTTP_WAIT_MAX_S 30
#define HTTP_PARAMS_MAX 8
/*
 * The most a page's answer holds before it ends early (its next cursor
 * goes on from there): 500 posts of 100 KB bodies would be 50 MB, which
 * one slow reader could keep the process holding.
 */
#define HTTP_PAGE_BYTES (4u << 20)

/* The query string's parameters, checked against the names a route takes. */
struct params {
    const char *allowed[6];
    const char *bad;   /* the first parameter not allowed, or given twice */
    const char *names[HTTP_PARAMS_MAX];
    size_t n;
    bool too_many;
};

static enum MHD_Result params_each(void *cls, enum MHD_ValueKind kind, const char *key,
                                   const char *value)
{
    (void)kind;
    struct params *p = cls;
    if (p->bad || p->too_many)
        return MHD_YES;
    if (p->n == HTTP_PARAMS_MAX) {
        p->too_many = true;
        return MHD_YES;
    }
    bool allowed = false, twice = false;
    for (size_t i = 0; i < 6 && p->allowed[i]; i++)
        allowed |= strcmp(key, p->allowed[i]) == 0;
    for (size_t i = 0; i < p->n; i++)
        twice |= strcmp(key, p->names[i]) == 0;
    if (!allowed || twice || !value) /* "?after" with no value is no value at all */
        p->bad = key;
    else
        p->names[p->n++] = key;
    return MHD_YES;
}

/* A 400 for a parameter that is not one of route's, or twice; false when all are fine. */
static bool params_refused(struct MHD_Connection *c, struct params *p, enum MHD_Result *result)
{
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, params_each, p);
    if (p->too_many)
        *result = http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                             "too many query parameters (at most %d)", HTTP_PARAMS_MAX);
    else if (p->bad)
        *result = http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                             "query parameter '%.40s' is unknown here, given twice, or has no "
                             "value", p->bad);
    return p->too_many || p->bad;
}

/* An integer of 1 to 6 digits in [lo, hi], or -1. */
static long param_int(const char *s, long lo, long hi)
{
    if (!s || !*s || strlen(s) > 6 || strspn(s, "0123456789") != strlen(s))
        return -1;
    long v = strtol(s, NULL, 10);
    return v >= lo && v <= hi ? v : -1;
}

static enum MHD_Result store_failed(struct MHD_Connection *c, const struct pw_errbuf *err)
{
    return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                      "the store did not answer: %s", err->msg);
}

/* Whether If-None-Match (a list of entity tags, or *) names etag. */
static bool etag_matches(const char *header, const char *etag)
{
    if (!header)
        return false;
    header += strspn(header, " ");
    if (header[0] == '*' && header[1 + strspn(header + 1, " ")] == '\0')
        return true;
    size_t n = strlen(etag);
    for (const char *p = header; (p = strstr(p, etag)); p += n) {
        bool starts = p == header || p[-1] == ' ' || p[-1] == ',' || p[-1] == '/';
        bool ends = p[n] == '\0' || p[n] == ' ' || p[n] == ',';
        if (starts && ends)
            return true;
    }
    return false;
}

static enum MHD_Result get_post(struct pw_http *h, struct MHD_Connection *c, const char *post_id,
                                void **state)
{
    enum MHD_Result result;
    struct pw_post post;
    bool found = false;
    struct pw_errbuf err;
    if (*state != &http_first_call) { /* resumed: read with others */
        if (!http_lookup_result(*state, &post, &found, &err))
            return store_failed(c, &err);
    } else {
        if (params_refused(c, &(struct params){.allowed = {NULL}}, &result))
            return result;
        if (pw_post_check_id(post_id, NULL))
            return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                              "a post_id is 1 to 64 characters of A-Z a-z 0-9 . _ -");
        if (http_lookup_begin(h, c, state, post_id))
            return MHD_YES;
        if (pw_query_post_get(atomic_load(&h->query), post_id, &post, &found, &err))
            return store_failed(c, &err);
    }
    if (!found)
        return http_error(c, MHD_HTTP_NOT_FOUND, "not_found", "no post '%s'", post_id);
    char etag[32];
    snprintf(etag, sizeof etag, "\"%lld\"", (long long)post.version);
    bool deleted = pw_post_is_deleted(&post);
    const char *inm = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                  MHD_HTTP_HEADER_IF_NONE_MATCH);
    if (etag_matches(inm, etag)) {
        pw_post_release(&post);
        struct MHD_Response *r = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, etag);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        result = MHD_queue_response(c, MHD_HTTP_NOT_MODIFIED, r);
        MHD_destroy_response(r);
        return result;
    }
    struct http_out out = {0};
    http_post_json(&out, &post);
    pw_post_release(&post);
    size_t len = out.len;
    char *body = http_out_take(&out);
    return body ? http_json_text(c, deleted ? MHD_HTTP_GONE : MHD_HTTP_OK, body, len, etag)
                : MHD_NO;
}

static enum MHD_Result list_posts(struct pw_http *h, struct MHD_Connection *c)
{
    enum MHD_Result result;
    struct params p = {.allowed = {"author", "deleted", "limit", "after"}};
    if (params_refused(c, &p, &result))
        return result;
    const char *author = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "author");
    const char *deleted = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "deleted");
    const char *limit = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "limit");
    const char *after = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "after");
    struct pw_posts_filter f = {.author = author, .deleted = PW_DELETED_EXCLUDE};
    if (author && (!*author || strlen(author) > 4 * PW_AUTHOR_MAX ||
                   pw_text_codepoints(author, strlen(author)) < 0))
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "author is 1 to %d characters of UTF-8", PW_AUTHOR_MAX);
    if (deleted && strcmp(deleted, "exclude") != 0) {
        if (strcmp(deleted, "include") == 0)
            f.deleted = PW_DELETED_INCLUDE;
        else if (strcmp(deleted, "only") == 0)
            f.deleted = PW_DELETED_ONLY;
        else
            return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                              "deleted is exclude, include or only");
    }
    long max = limit ? param_int(limit, 1, PW_QUERY_PAGE_MAX) : 50;
    if (max < 0)
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "limit is a whole number from 1 to %d", PW_QUERY_PAGE_MAX);
    if (after) {
        f.after = http_cursor_decode(after, author, f.deleted, &f.after_created, f.after_id);
        if (!f.after)
            return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                              "after is not a cursor of this listing: pass the 'next' of the "
                              "page before, with the same author and deleted");
    }
    struct pw_post *page = calloc((size_t)max, sizeof *page);
    if (!page)
        return MHD_NO;
    size_t n = 0;
    bool more = false;
    struct pw_errbuf err;
    if (pw_query_posts_list(atomic_load(&h->query), &f, page, (size_t)max, &n, &more, &err)) {
        free(page);
        return store_failed(c, &err);
    }
    struct http_out out = {0};
    http_out_str(&out, "{\"posts\":[");
    /* A page ends early, with its next cursor, once its answer passes HTTP_PAGE_BYTES. */
    size_t shown = 0;
    while (shown < n) {
        if (shown)
            http_out_put(&out, ",", 1);
        http_post_json(&out, &page[shown++]);
        if (shown < n && out.len > HTTP_PAGE_BYTES) {
            more = true;
            break;
        }
    }
    char next[HTTP_CURSOR_MAX + 3] = "null"; /* base64url: nothing to escape */
    if (more) {
        next[0] = '"';
        http_cursor_encode(author, f.deleted, page[shown - 1].created_at,
                           page[shown - 1].post_id, next + 1);
        strcat(next, "\"");
    }
    http_out_str(&out, "],\"next\":");
    http_out_str(&out, next);
    http_out_put(&out, "}", 1);
    for (size_t i = 0; i < n; i++)
        pw_post_release(&page[i]);
    free(page);
    size_t len = out.len;
    char *body = http_out_take(&out);
    return body ? http_json_text(c, MHD_HTTP_OK, body, len, NULL) : MHD_NO;
}

enum MHD_Result http_command_answer(struct MHD_Connection *c, const struct pw_command_status *st)
{
    json_t *body = json_pack("{s:s}", "outcome", pw_cmd_state_name(st->outcome));
    if (body) {
        bool coded = st->outcome == PW_Q_REJECTED || st->outcome == PW_Q_FAILED;
        json_object_set_new(body, "code", coded ? json_string(pw_err_name(st->code)) : json_null());
        json_object_set_new(body, "post_id", st->post_id[0] ? json_string(st->post_id) : json_null());
        json_object_set_new(body, "version",
                            st->version ? json_integer((json_int_t)st->version) : json_null());
    }
    return http_json(c, MHD_HTTP_OK, body, NULL);
}

static enum MHD_Result get_command(struct pw_http *h, struct MHD_Connection *c, void **state)
{
    if (*state != &http_first_call) /* resumed: the waiter thread has its answer */
        return http_wait_answer(c, *state);
    enum MHD_Result result;
    struct params p = {.allowed = {"source", "id", "post_id", "wait"}};
    if (params_refused(c, &p, &result))
        return result;
    const char *source = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "source");
    const char *id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "id");
    const char *post_id = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "post_id");
    const char *wait = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "wait");
    if (!source || !*source || strlen(source) > PW_CMD_SOURCE_BYTES ||
        pw_text_codepoints(source, strlen(source)) < 0)
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "source is required: the command's, 1 to %d characters of UTF-8",
                          PW_CMD_SOURCE_MAX);
    if (!id || !*id || strlen(id) > PW_CMD_ID_BYTES || pw_text_codepoints(id, strlen(id)) < 0)
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "id is required: the command's, 1 to %d characters of UTF-8",
                          PW_CMD_ID_MAX);
    if (post_id && pw_post_check_id(post_id, NULL))
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "a post_id is 1 to 64 characters of A-Z a-z 0-9 . _ -");
    long wait_s = wait ? param_int(wait, 0, HTTP_WAIT_MAX_S) : 0;
    if (wait_s < 0)
        return http_error(c, MHD_HTTP_BAD_REQUEST, "bad_parameter",
                          "wait is a whole number of seconds from 0 to %d", HTTP_WAIT_MAX_S);
    struct pw_query *q = atomic_load(&h->query);
    uint64_t seen = 0;
    pw_query_changes_wait(q, &seen, 0); /* the count before the look: a commit after it wakes */
    struct pw_command_status st;
    struct pw_errbuf err;
    if (pw_query_command_get(q, source, id, post_id, &st, &err))
        return store_failed(c, &err);
    if (st.outcome != PW_Q_UNKNOWN || wait_s == 0 ||
        !http_wait_begin(h, c, state, source, id, post_id, wait_s, seen, &st))
        return http_command_answer(c, &st);
    return MHD_YES;
}

/* One parked post as JSON; the failed command's source and id came from a message. */
static json_t *parked_json(const struct pw_parked *p, int64_t now)
{
    json_t *failed = json_pack("{s:s, s:s, s:I, s:I}", "code", pw_err_name(p->code), "topic",
                               p->topic, "partition", (json_int_t)p->partition, "offset",
                               (json_int_t)p->offset);
    if (failed && p->id[0]) {
        json_object_set_new(failed, "source", http_text_json(p->source));
        json_object_set_new(failed, "id", http_text_json(p->id));
    }
    json_t *post = json_pack("{s:s, s:s, s:o, s:I, s:f}", "post_id", p->post_id, "state",
                             p->draining ? "draining" : "parked", "failed", failed, "held",
                             (json_int_t)p->held, "parked_age_seconds",
                             (double)((now - p->parked_ms) / 10) / 100);
    if (post)
        json_object_set_new(post, "oldest_held_age_seconds",
                            p->held ? json_real((double)((now - p->oldest_ms) / 10) / 100)
                                    : json_null());
    return post;
}

/* GET /parked: every parked post, in post_id order, a hundred at a time from the store. */
static enum MHD_Result get_parked(struct pw_http *h, struct MHD_Connection *c)
{
    enum MHD_Result result;
    if (params_refused(c, &(struct params){.allowed = {NULL}}, &result))
        return result;
    enum { PAGE = 100 };
    struct pw_parked *page = malloc(PAGE * sizeof *page);
    json_t *list = json_array();
    if (!page || !list) {
        free(page);
        json_decref(list);
        return MHD_NO;
    }
    char after[PW_POST_ID_MAX + 1] = "";
    int64_t now = pw_metrics_now_ms();
    size_t n = 0;
    struct pw_errbuf err;
    enum pw_err rc;
    struct pw_query *q = atomic_load(&h->query);
    while ((rc = pw_query_parked_list(q, after, page, PAGE, &n, &err)) == PW_OK && n) {
        for (size_t i = 0; i < n; i++)
            json_array_append_new(list, parked_json(&page[i], now));
        snprintf(after, sizeof after, "%s", page[n - 1].post_id);
    }
    free(page);
    if (rc) {
        json_decref(list);
        return store_failed(c, &err);
    }
    return http_json(c, MHD_HTTP_OK, json_pack("{s:o}", "parked", list), NULL);
}

bool http_read_route(struct pw_http *h, struct MHD_Connection *c, const char *url, void **state,
                     enum MHD_Result *result)
{
    bool posts = strcmp(url, "/posts") == 0, post = strncmp(url, "/posts/", 7) == 0,
         commands = strcmp(url, "/commands") == 0, parked = strcmp(url, "/parked") == 0;
    if (!posts && !post && !commands && !parked)
        return false;
    if (!atomic_load(&h->query))
        *result = http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                             "the store is not open yet: try again in a moment");
    else if (atomic_load(&h->m->dependency_up[PW_M_STORE]) == 0)
        /* Known down: asking it would hold this polling thread, and the probes behind it. */
        *result = http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "store_unavailable",
                             "the store is down: try again once /readyz says it is up");
    else if (posts)
        *result = list_posts(h, c);
    else if (post)
        *result = get_post(h, c, url + 7, state);
    else if (commands)
        *result = get_command(h, c, state);
    else
        *result = get_parked(h, c);
    return true;
}
