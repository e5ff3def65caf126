/*
 * The read API's client for postctl (GET /posts/{id}, /posts, /commands):
 * each call writes what it read to out, for people, and returns PW_OK, or
 * the failure with err: transient when nothing answers, not_found for no
 * such post, fatal for any other answer (its message, escaped). Bodies come
 * from the server: they are printed as the JSON they are (a string in JSON
 * has its control characters escaped), and anything else escaped first.
 */
#include "adapters/curl/curl.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "domain/post.h"
#include "domain/text.h"

/* GET base+path into *r; transient, saying what to check, when nothing answers. */
static enum pw_err api_fetch(const char *base, const char *path, long timeout_ms,
                             struct pw_http_reply *r, struct pw_errbuf *err)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct pw_errbuf why;
    enum pw_err rc = pw_curl_get(url, NULL, timeout_ms, r, &why);
    if (rc == PW_E_TRANSIENT)
        return pw_err_set(err, rc, "%.160s: is the worker running with --http (make run), or "
                          "is POSTWORKER_API (--api) its address?", why.msg);
    if (rc)
        *err = why;
    return rc;
}

/* The error of an answer that is not what was asked for: its message, escaped. */
static enum pw_err api_failed(const char *what, const struct pw_http_reply *r,
                              struct pw_errbuf *err)
{
    json_t *v = json_loads(r->body, 0, NULL);
    const char *msg = json_string_value(json_object_get(v, "message"));
    char safe[600];
    pw_err_set(err, PW_E_FATAL, "%s: HTTP %ld: %s", what, r->status,
               pw_text_escape(msg ? msg : r->body, safe, sizeof safe));
    json_decref(v);
    return PW_E_FATAL;
}

enum pw_err pw_api_get(const char *base, const char *post_id, FILE *out, struct pw_errbuf *err)
{
    if (pw_post_check_id(post_id, NULL))
        return pw_err_set(err, PW_E_USAGE, "'%.64s' is not a post id", post_id);
    char path[128];
    snprintf(path, sizeof path, "/posts/%s", post_id);
    struct pw_http_reply r;
    enum pw_err rc = api_fetch(base, path, 10000, &r, err);
    if (rc)
        return rc;
    if (r.status == 200 || r.status == 410) {
        json_t *v = json_loads(r.body, 0, NULL);
        char *pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (pretty)
            fprintf(out, "%s\n", pretty);
        else
            rc = api_failed("get", &r, err);
        free(pretty);
        json_decref(v);
    } else if (r.status == 404) {
        rc = pw_err_set(err, PW_E_NOT_FOUND, "no post '%s'", post_id);
    } else {
        rc = api_failed("get", &r, err);
    }
    pw_http_reply_release(&r);
    return rc;
}

/* Appends &name=value (escaped) to path, when value is set. */
static void api_param(char *path, size_t size, const char *name, const char *value)
{
    if (!value)
        return;
    char *e = pw_curl_escape(value);
    size_t n = strlen(path);
    snprintf(path + n, size - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, e ? e : "");
    free(e);
}

enum pw_err pw_api_list(const char *base, const struct pw_api_list_opts *o, FILE *out,
                        char *next_out, size_t next_size, struct pw_errbuf *err)
{
    char after[512] = "";
    if (o->after)
        snprintf(after, sizeof after, "%s", o->after);
    next_out[0] = '\0';
    for (;;) {
        char path[2048] = "/posts";
        api_param(path, sizeof path, "author", o->author);
        api_param(path, sizeof path, "deleted", o->deleted);
        api_param(path, sizeof path, "limit", o->limit);
        api_param(path, sizeof path, "after", after[0] ? after : NULL);
        struct pw_http_reply r;
        enum pw_err rc = api_fetch(base, path, 10000, &r, err);
        if (rc)
            return rc;
        if (r.status != 200) {
            rc = api_failed("list", &r, err);
            pw_http_reply_release(&r);
            return rc;
        }
        json_t *v = json_loads(r.body, 0, NULL), *posts = json_object_get(v, "posts");
        pw_http_reply_release(&r);
        for (size_t i = 0; i < json_array_size(posts); i++) {
            json_dumpf(json_array_get(posts, i), out, JSON_COMPACT | JSON_PRESERVE_ORDER);
            fputc('\n', out);
        }
        const char *next = json_string_value(json_object_get(v, "next"));
        snprintf(after, sizeof after, "%s", next ? next : "");
        json_decref(v);
        if (!next)
            return PW_OK;
        if (!o->all) {
            snprintf(next_out, next_size, "%s", after);
            return PW_OK;
        }
    }
}

enum pw_err pw_api_wait(const char *base, const char *source, const char *id, const char *post_id,
                        int seconds, FILE *out, bool *applied, struct pw_errbuf *err)
{
    *applied = false;
    char path[4096] = "/commands";
    char wait[16];
    snprintf(wait, sizeof wait, "%d", seconds);
    api_param(path, sizeof path, "source", source);
    api_param(path, sizeof path, "id", id);
    /* A post id the worker will refuse is no post to compare: the answer is its rejection. */
    api_param(path, sizeof path, "post_id", pw_post_check_id(post_id, NULL) ? NULL : post_id);
    api_param(path, sizeof path, "wait", wait);
    struct pw_http_reply r;
    enum pw_err rc = api_fetch(base, path, (seconds + 10) * 1000L, &r, err);
    if (rc)
        return rc;
    if (r.status != 200) {
        rc = api_failed("wait", &r, err);
        pw_http_reply_release(&r);
        return rc;
    }
    json_t *v = json_loads(r.body, 0, NULL);
    pw_http_reply_release(&r);
    const char *outcome = json_string_value(json_object_get(v, "outcome"));
    const char *code = json_string_value(json_object_get(v, "code"));
    const char *post = json_string_value(json_object_get(v, "post_id"));
    json_int_t version = json_integer_value(json_object_get(v, "version"));
    if (!outcome) {
        rc = pw_err_set(err, PW_E_FATAL, "wait: the answer has no outcome");
    } else if (strcmp(outcome, "applied") == 0) {
        fprintf(out, "applied: post '%s' version %lld\n", post ? post : post_id,
                (long long)version);
        *applied = true;
    } else if (strcmp(outcome, "rejected") == 0 || strcmp(outcome, "failed") == 0) {
        fprintf(out, "%s: %s (post '%s'; its dead letter says more: postctl tail dlq)\n",
                outcome, code ? code : "?", post ? post : post_id);
    } else if (strcmp(outcome, "held") == 0) {
        fprintf(out, "held: post '%s' is parked behind a command that failed (postworker "
                "parked)\n", post ? post : post_id);
    } else if (strcmp(outcome, "duplicate") == 0) {
        fprintf(out, "duplicate: this id was already used for post '%s'; nothing was done\n",
                post ? post : "?");
    } else {
        fprintf(out, "unknown: no outcome within %d s (is the worker consuming?)\n", seconds);
    }
    json_decref(v);
    return rc;
}
