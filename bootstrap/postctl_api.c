/*
 * postctl's reads, through the worker's read API (GET /posts/{id}, /posts,
 * /commands): what it prints and the exit status. Bodies come from the
 * server: they are printed as the JSON they are (a string in JSON has its
 * control characters escaped), and anything else is escaped first.
 */
#include "bootstrap/postctl_api.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/curl/curl.h"
#include "bootstrap/brokers.h"
#include "domain/post.h"
#include "domain/text.h"

#define PC_API_DEFAULT "http://127.0.0.1:9464"

const char *pc_api_base(const struct pw_config *cfg, bool *known, char *buf, size_t size)
{
    const char *found = cfg->api ? cfg->api : pw_api_find(buf, size);
    *known = found != NULL;
    const char *base = found ? found : PC_API_DEFAULT;
    if (base != buf)
        snprintf(buf, size, "%s", base);
    size_t n = strlen(buf);
    while (n && buf[n - 1] == '/')
        buf[--n] = '\0';
    return buf;
}

/* GET base+path: 0 and *r, or 1 having said why (nothing answered). */
static int pc_fetch(const char *base, const char *path, long timeout_ms, struct pw_http_reply *r)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", base, path);
    struct pw_errbuf err;
    if (pw_curl_get(url, NULL, timeout_ms, r, &err) == PW_OK)
        return 0;
    fprintf(stderr, "postctl: %s: is the worker running with --http (make run), or is "
            "POSTWORKER_API (--api) its address?\n", err.msg);
    return 1;
}

/* The error of an answer that is not what was asked for: its message, escaped. */
static int pc_failed(const char *what, const struct pw_http_reply *r)
{
    json_t *v = json_loads(r->body, 0, NULL);
    const char *msg = json_string_value(json_object_get(v, "message"));
    char safe[600];
    fprintf(stderr, "postctl: %s: HTTP %ld: %s\n", what, r->status,
            pw_text_escape(msg ? msg : r->body, safe, sizeof safe));
    json_decref(v);
    return 1;
}

int pc_get(const char *base, const char *post_id)
{
    if (pw_post_check_id(post_id, NULL))
        return fprintf(stderr, "postctl: '%.64s' is not a post id\n", post_id), 2;
    char path[128];
    snprintf(path, sizeof path, "/posts/%s", post_id);
    struct pw_http_reply r;
    if (pc_fetch(base, path, 10000, &r))
        return 1;
    int status = 0;
    if (r.status == 200 || r.status == 410) {
        json_t *v = json_loads(r.body, 0, NULL);
        char *pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        if (pretty)
            printf("%s\n", pretty);
        else
            status = pc_failed("get", &r);
        free(pretty);
        json_decref(v);
    } else if (r.status == 404) {
        fprintf(stderr, "postctl: no post '%s'\n", post_id);
        status = 1;
    } else {
        status = pc_failed("get", &r);
    }
    pw_http_reply_release(&r);
    return status;
}

/* Appends &name=value (escaped) to path, when value is set. */
static void pc_param(char *path, size_t size, const char *name, const char *value)
{
    if (!value)
        return;
    char *e = pw_curl_escape(value);
    size_t n = strlen(path);
    snprintf(path + n, size - n, "%c%s=%s", strchr(path, '?') ? '&' : '?', name, e ? e : "");
    free(e);
}

int pc_list(const char *base, const struct pc_list_opts *o)
{
    char after[512] = "";
    if (o->after)
        snprintf(after, sizeof after, "%s", o->after);
    for (;;) {
        char path[2048] = "/posts";
        pc_param(path, sizeof path, "author", o->author);
        pc_param(path, sizeof path, "deleted", o->deleted);
        pc_param(path, sizeof path, "limit", o->limit);
        pc_param(path, sizeof path, "after", after[0] ? after : NULL);
        struct pw_http_reply r;
        if (pc_fetch(base, path, 10000, &r))
            return 1;
        if (r.status != 200) {
            int status = pc_failed("list", &r);
            pw_http_reply_release(&r);
            return status;
        }
        json_t *v = json_loads(r.body, 0, NULL), *posts = json_object_get(v, "posts");
        pw_http_reply_release(&r);
        for (size_t i = 0; i < json_array_size(posts); i++) {
            json_dumpf(json_array_get(posts, i), stdout, JSON_COMPACT | JSON_PRESERVE_ORDER);
            putchar('\n');
        }
        const char *next = json_string_value(json_object_get(v, "next"));
        snprintf(after, sizeof after, "%s", next ? next : "");
        json_decref(v);
        if (!next)
            return 0;
        if (!o->all) {
            fprintf(stderr, "postctl: more: add --after %s (or --all)\n", after);
            return 0;
        }
    }
}

int pc_wait(const char *base, const char *source, const char *id, const char *post_id,
            int seconds)
{
    char path[4096] = "/commands";
    char wait[16];
    snprintf(wait, sizeof wait, "%d", seconds);
    pc_param(path, sizeof path, "source", source);
    pc_param(path, sizeof path, "id", id);
    pc_param(path, sizeof path, "post_id", post_id);
    pc_param(path, sizeof path, "wait", wait);
    struct pw_http_reply r;
    if (pc_fetch(base, path, (seconds + 10) * 1000L, &r))
        return 1;
    if (r.status != 200) {
        int status = pc_failed("wait", &r);
        pw_http_reply_release(&r);
        return status;
    }
    json_t *v = json_loads(r.body, 0, NULL);
    pw_http_reply_release(&r);
    const char *outcome = json_string_value(json_object_get(v, "outcome"));
    const char *code = json_string_value(json_object_get(v, "code"));
    const char *post = json_string_value(json_object_get(v, "post_id"));
    json_int_t version = json_integer_value(json_object_get(v, "version"));
    int status = 1;
    if (!outcome) {
        fprintf(stderr, "postctl: wait: the answer has no outcome\n");
    } else if (strcmp(outcome, "applied") == 0) {
        printf("applied: post '%s' version %lld\n", post ? post : post_id, (long long)version);
        status = 0;
    } else if (strcmp(outcome, "rejected") == 0 || strcmp(outcome, "failed") == 0) {
        printf("%s: %s (post '%s'; its dead letter says more: postctl tail dlq)\n", outcome,
               code ? code : "?", post ? post : post_id);
    } else if (strcmp(outcome, "held") == 0) {
        printf("held: post '%s' is parked behind a command that failed (postworker parked)\n",
               post ? post : post_id);
    } else if (strcmp(outcome, "duplicate") == 0) {
        printf("duplicate: this id was already used for another post; nothing was done\n");
    } else {
        printf("unknown: no outcome within %d s (is the worker consuming?)\n", seconds);
    }
    json_decref(v);
    return status;
}
