/*
 * The read API over HTTP, each case written once against a store and run
 * on every adapter (HTTP_CASES): the listener on a free port, the store's
 * query port behind it, and requests from libcurl as any client sends them.
 */
#include "tests/http_contract.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/curl/curl.h"
#include "adapters/http/http.h"
#include "tests/helpers.h"

struct api {
    struct store s;
    struct pw_metrics m;
    struct pw_http *h;
    char base[64];
};

static void api_open(struct api *a, const struct store_adapter *adapter)
{
    memset(a, 0, sizeof *a);
    adapter->open(&a->s);
    pw_metrics_init(&a->m, "test", "post-commands");
    struct pw_errbuf err;
    cr_assert_eq(pw_http_start(&a->h, "127.0.0.1:0", &a->m, NULL, &err), PW_OK, "%s", err.msg);
    pw_http_serve_query(a->h, &a->s.q, false);
    snprintf(a->base, sizeof a->base, "http://127.0.0.1:%d", pw_http_port(a->h));
}

static void api_close(struct api *a, const struct store_adapter *adapter)
{
    pw_http_stop(a->h);
    adapter->close(&a->s);
}

/* GET path (with header, may be NULL), and the status. */
static long get(struct api *a, const char *path, const char *header, struct pw_http_reply *r)
{
    char url[20000];
    snprintf(url, sizeof url, "%s%s", a->base, path);
    struct pw_errbuf err;
    cr_assert_eq(pw_curl_get(url, header, 40000, r, &err), PW_OK, "%s", err.msg);
    return r->status;
}

/* The JSON body of GET path, which must answer status. */
static json_t *get_json(struct api *a, const char *path, long status)
{
    struct pw_http_reply r;
    long got = get(a, path, NULL, &r);
    cr_assert_eq(got, status, "GET %.80s: %ld, not %ld: %s", path, got, status, r.body);
    cr_assert_str_eq(r.content_type, "application/json", "GET %.80s", path);
    json_t *v = json_loads(r.body, 0, NULL);
    cr_assert(v, "GET %.80s: not JSON: %s", path, r.body);
    pw_http_reply_release(&r);
    return v;
}

/* path must be a 400 with {"error": "bad_parameter", "message": ...}. */
static void refused(struct api *a, const char *path)
{
    json_t *v = get_json(a, path, 400);
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "bad_parameter", "%.80s",
                     path);
    cr_assert(json_string_value(json_object_get(v, "message")));
    json_decref(v);
}

static void seed(struct api *a, const char *id, const char *author, int at, bool deleted,
                 int64_t version)
{
    struct pw_post p = store_post_make(id, version);
    free(p.author_name);
    p.author_name = strdup(author);
    p.created_at = T0 + (pw_time)at * 1000000;
    p.deleted_at = deleted ? T0 + 99000000 : PW_TIME_NONE;
    struct pw_errbuf err;
    store_begin(&a->s.uow);
    struct pw_repo repo = pw_uow_posts(&a->s.uow);
    cr_assert_eq(pw_repo_add(&repo, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&a->s.uow);
    pw_post_release(&p);
}

void http_case_a_post_answers_with_its_etag_304_404_410_and_400(const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    seed(&a, "p-1", "Ada", 0, false, 3);
    seed(&a, "p-2", "Ada", 1, true, 2);
    json_t *v = get_json(&a, "/posts/p-1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "post_id")), "p-1");
    cr_assert_str_eq(json_string_value(json_object_get(v, "title")), "Héllo, wörld ✓");
    cr_assert_eq(json_integer_value(json_object_get(v, "version")), 3);
    cr_assert_str_eq(json_string_value(json_object_get(v, "created_at")), "2026-11-20T10:00:00Z");
    cr_assert(json_is_null(json_object_get(v, "deleted_at")));
    json_decref(v);
    struct pw_http_reply r;
    cr_assert_eq(get(&a, "/posts/p-1", NULL, &r), 200);
    cr_assert_str_eq(r.etag, "\"3\"");
    pw_http_reply_release(&r);
    const char *match[] = {"If-None-Match: \"3\"", "If-None-Match: W/\"3\"",
                           "If-None-Match: \"1\", \"3\"", "If-None-Match: *"};
    for (size_t i = 0; i < 4; i++) {
        cr_assert_eq(get(&a, "/posts/p-1", match[i], &r), 304, "%s", match[i]);
        cr_assert_eq(r.len, 0);
        pw_http_reply_release(&r);
    }
    const char *miss[] = {"If-None-Match: \"2\"", "If-None-Match: \"33\"", "If-None-Match: 3"};
    for (size_t i = 0; i < 3; i++) {
        cr_assert_eq(get(&a, "/posts/p-1", miss[i], &r), 200, "%s", miss[i]);
        pw_http_reply_release(&r);
    }
    v = get_json(&a, "/posts/p-2", 410);
    cr_assert_str_eq(json_string_value(json_object_get(v, "deleted_at")), "2026-11-20T10:01:39Z",
                     "a deleted post is gone, with its last state");
    json_decref(v);
    v = get_json(&a, "/posts/p-3", 404);
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "not_found");
    json_decref(v);
    refused(&a, "/posts/bad!id");
    refused(&a, "/posts/a%2Fb");
    refused(&a, "/posts/%00");
    char longer[128] = "/posts/";
    memset(longer + 7, 'x', 65);
    refused(&a, longer);
    refused(&a, "/posts/p-1?fields=title");
    refused(&a, "/posts/p-1%00junk"); /* a NUL would have cut it to p-1 */
    api_close(&a, ad);
}

void http_case_pages_follow_next_to_the_end_and_refuse_what_is_not_theirs(
    const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    static const char *ids[] = {"g", "f", "e", "d", "c", "b", "a"};
    for (int i = 0; i < 7; i++)
        seed(&a, ids[i], i == 3 ? "Bob" : "Ada", i, i == 5, 1);
    /* Ada's live posts, two a page: g f e c a, in created_at order. */
    char path[512] = "/posts?author=Ada&limit=2", seen[64] = "", first_next[256] = "";
    int pages = 0;
    for (;;) {
        json_t *v = get_json(&a, path, 200);
        json_t *posts = json_object_get(v, "posts"), *next = json_object_get(v, "next");
        for (size_t i = 0; i < json_array_size(posts); i++)
            strcat(seen, json_string_value(json_object_get(json_array_get(posts, i), "post_id")));
        pages++;
        if (json_is_null(next)) {
            json_decref(v);
            break;
        }
        if (!first_next[0])
            snprintf(first_next, sizeof first_next, "%s", json_string_value(next));
        snprintf(path, sizeof path, "/posts?author=Ada&limit=2&after=%s", json_string_value(next));
        json_decref(v);
        cr_assert(pages < 10);
    }
    cr_assert_str_eq(seen, "gfeca");
    cr_assert_eq(pages, 3);
    json_t *v = get_json(&a, "/posts?deleted=only", 200);
    cr_assert_eq(json_array_size(json_object_get(v, "posts")), 1);
    json_decref(v);
    v = get_json(&a, "/posts?deleted=include&limit=500", 200);
    cr_assert_eq(json_array_size(json_object_get(v, "posts")), 7);
    cr_assert(json_is_null(json_object_get(v, "next")));
    json_decref(v);

    const char *bad[] = {"/posts?limit=0", "/posts?limit=501", "/posts?limit=abc",
                         "/posts?limit=-1", "/posts?limit=1e3", "/posts?limit=99999999999",
                         "/posts?limit=", "/posts?deleted=maybe", "/posts?author=",
                         "/posts?colour=red", "/posts?limit=1&limit=2", "/posts?after=",
                         "/posts?after=!!!!", "/posts?after=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
                         "/posts?after", "/posts?author=%FF%FE", "/posts?author=Ada&limit",
                         "/posts?limit=5%00"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(&a, bad[i]);
    /* The cursor of Ada's pages: for Bob's, or for deleted ones, it is not theirs. */
    snprintf(path, sizeof path, "/posts?author=Bob&after=%s", first_next);
    refused(&a, path);
    snprintf(path, sizeof path, "/posts?author=Ada&deleted=include&after=%s", first_next);
    refused(&a, path);
    /* Any one character changed, or the cursor cut short, is refused. */
    size_t n = strlen(first_next);
    for (size_t i = 0; i < n; i++) {
        char tampered[256];
        snprintf(tampered, sizeof tampered, "%s", first_next);
        tampered[i] = tampered[i] == 'A' ? 'B' : 'A';
        snprintf(path, sizeof path, "/posts?author=Ada&limit=2&after=%s", tampered);
        refused(&a, path);
        snprintf(path, sizeof path, "/posts?author=Ada&limit=2&after=%.*s", (int)i, first_next);
        refused(&a, path);
    }
    /* A long cursor a route reads is a 400; past 16 KiB the listener refuses the request itself. */
    char *huge = malloc(19100);
    strcpy(huge, "/posts?after=");
    memset(huge + 13, 'A', 8000);
    huge[8013] = '\0';
    refused(&a, huge);
    memset(huge + 13, 'A', 19000);
    huge[19013] = '\0';
    struct pw_http_reply r;
    long status = get(&a, huge, NULL, &r);
    cr_assert_eq(status, 414, "a request line over 16 KiB: %ld", status);
    cr_assert(!strstr(r.content_type, "json"), "libmicrohttpd's own page (docs/openapi.yaml)");
    pw_http_reply_release(&r);
    free(huge);
    /* Without a limit: pages of 50. */
    for (int i = 0; i < 51; i++) {
        char id[16];
        snprintf(id, sizeof id, "cy-%02d", i);
        seed(&a, id, "Cy", 100 + i, false, 1);
    }
    v = get_json(&a, "/posts?author=Cy", 200);
    cr_assert_eq(json_array_size(json_object_get(v, "posts")), 50, "the default limit is 50");
    cr_assert(json_is_string(json_object_get(v, "next")), "and the 51st is on the next page");
    json_decref(v);
    api_close(&a, ad);
}

struct late {
    struct api *a;
    enum pw_err rc;
    int delay_ms;
    const char *cid; /* "c-N": command c-N, event cN, post p-N */
};

static void *apply_later(void *arg)
{
    struct late *l = arg;
    nanosleep(&(struct timespec){l->delay_ms / 1000, l->delay_ms % 1000 * 1000000L}, NULL);
    char post[16];
    snprintf(post, sizeof post, "p-%s", l->cid + 2);
    struct pw_event ev = store_event_make(post, l->cid + 1);
    struct pw_uow *uow = &l->a->s.uow;
    struct pw_errbuf err;
    l->rc = pw_uow_begin(uow, &err);
    if (!l->rc)
        l->rc = pw_uow_outbox_put(uow, "post-events", &ev, &err);
    if (!l->rc)
        l->rc = pw_uow_inbox_put(uow, "/editor", l->cid, PW_OK, post, 1, &err);
    if (!l->rc)
        l->rc = pw_uow_commit(uow, &err);
    return NULL;
}

/* A wait of 30 s on a command nobody sends, from a thread of its own. */
struct pending {
    struct api *a;
    long status;
    char *body;
};

static void *wait_pending(void *arg)
{
    struct pending *p = arg;
    char url[128];
    snprintf(url, sizeof url, "%s/commands?source=/x&id=never&wait=30", p->a->base);
    struct pw_http_reply r;
    struct pw_errbuf err;
    if (pw_curl_get(url, NULL, 40000, &r, &err) == PW_OK) {
        p->status = r.status;
        p->body = strdup(r.body);
        pw_http_reply_release(&r);
    }
    return NULL;
}

static int64_t mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

void http_case_a_command_answers_its_outcome_and_a_wait_wakes_on_the_commit(
    const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    struct pw_errbuf err;
    store_begin(&a.s.uow);
    cr_assert_eq(pw_uow_inbox_put(&a.s.uow, "/editor", "c-1", PW_OK, "p-1", 2, &err), PW_OK);
    cr_assert_eq(pw_uow_inbox_put(&a.s.uow, "/editor", "c-2", PW_E_NOT_FOUND, "p-2", 0, &err),
                 PW_OK);
    store_commit(&a.s.uow);
    json_t *v = get_json(&a, "/commands?source=%2Feditor&id=c-1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "applied");
    cr_assert_str_eq(json_string_value(json_object_get(v, "post_id")), "p-1");
    cr_assert_eq(json_integer_value(json_object_get(v, "version")), 2);
    cr_assert(json_is_null(json_object_get(v, "code")));
    json_decref(v);
    v = get_json(&a, "/commands?source=/editor&id=c-2", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "rejected");
    cr_assert_str_eq(json_string_value(json_object_get(v, "code")), "not_found");
    json_decref(v);
    v = get_json(&a, "/commands?source=/editor&id=c-1&post_id=p-9", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "duplicate");
    cr_assert_str_eq(json_string_value(json_object_get(v, "post_id")), "p-1");
    json_decref(v);
    v = get_json(&a, "/commands?source=/editor%00zz&id=c-1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "unknown",
                     "a %%00 is text, not the end of the source");
    json_decref(v);
    int64_t t0 = mono_ms();
    v = get_json(&a, "/commands?source=/editor&id=c-404&wait=1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "unknown");
    cr_assert_geq(mono_ms() - t0, 900, "it waited its second");
    json_decref(v);

    char longid[700] = "/commands?source=s&id=";
    memset(longid + strlen(longid), 'x', 600);
    const char *bad[] = {"/commands", "/commands?id=c-1", "/commands?source=/editor",
                         "/commands?source=&id=c-1", "/commands?source=/e&id=c&wait=31",
                         "/commands?source=/e&id=c&wait=-1", "/commands?source=/e&id=c&wait=x",
                         "/commands?source=/e&id=c&post_id=no!", "/commands?source=/e&id=c&x=1",
                         "/commands?source=%C0%AF&id=c", "/commands?source=/e&id=%FF",
                         "/commands?source=/e&id=c&wait", longid};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        refused(&a, bad[i]);

    /* A wait answered by the commit, long before its end. */
    struct late l = {&a, PW_OK, 400, "c-5"};
    pthread_t t;
    cr_assert_eq(pthread_create(&t, NULL, apply_later, &l), 0);
    t0 = mono_ms();
    v = get_json(&a, "/commands?source=/editor&id=c-5&wait=30", 200);
    int64_t took = mono_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(l.rc, PW_OK);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "applied");
    cr_assert_lt(took, 5000, "answered on the commit (%lld ms), not at the end of its wait",
                 (long long)took);
    json_decref(v);
    /* And one past the listener's 5 s bound on a request: a wait is given its time. */
    l = (struct late){&a, PW_OK, 5600, "c-6"};
    cr_assert_eq(pthread_create(&t, NULL, apply_later, &l), 0);
    t0 = mono_ms();
    v = get_json(&a, "/commands?source=/editor&id=c-6&wait=30", 200);
    took = mono_ms() - t0;
    pthread_join(t, NULL);
    cr_assert_eq(l.rc, PW_OK);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "applied");
    cr_assert(took >= 5500 && took < 15000, "answered on the commit at 5.6 s (%lld ms)",
              (long long)took);
    json_decref(v);

    /* Waits pending when the listener stops are answered "unknown", and the stop goes on. */
    struct pending p = {&a, 0, NULL};
    cr_assert_eq(pthread_create(&t, NULL, wait_pending, &p), 0);
    nanosleep(&(struct timespec){0, 500 * 1000000L}, NULL);
    t0 = mono_ms();
    pw_http_stop(a.h);
    a.h = NULL;
    pthread_join(t, NULL);
    cr_assert_lt(mono_ms() - t0, 3000, "the stop did not wait out the wait");
    cr_assert_eq(p.status, 200, "the pending wait was answered (%ld)", p.status);
    cr_assert(p.body && strstr(p.body, "\"outcome\":\"unknown\""), "%s", p.body);
    free(p.body);
    api_close(&a, ad);
}

void http_case_parked_posts_methods_and_head(const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    seed(&a, "p-1", "Ada", 0, false, 1);
    struct pw_parked p = {.code = PW_E_APPLY_FAILED, .partition = 1, .offset = 9};
    snprintf(p.post_id, sizeof p.post_id, "p-9");
    snprintf(p.source, sizeof p.source, "/editor");
    snprintf(p.id, sizeof p.id, "c-9\x1b[31m");
    snprintf(p.topic, sizeof p.topic, "post-commands");
    struct pw_errbuf err;
    store_begin(&a.s.uow);
    cr_assert_eq(pw_uow_park(&a.s.uow, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&a.s.uow);
    json_t *v = get_json(&a, "/parked", 200);
    json_t *one = json_array_get(json_object_get(v, "parked"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(one, "post_id")), "p-9");
    json_t *failed = json_object_get(one, "failed");
    cr_assert_str_eq(json_string_value(json_object_get(failed, "code")), "apply_failed");
    cr_assert_str_eq(json_string_value(json_object_get(failed, "id")), "c-9\x1b[31m",
                     "shown as JSON escapes it, never raw");
    json_decref(v);
    v = get_json(&a, "/commands?source=/editor&id=c-9%1B%5B31m", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "outcome")), "failed");
    json_decref(v);
    refused(&a, "/parked?all=1");

    /* A store known to be down is not asked: 503 at once, the probes still answer. */
    atomic_store(&a.m.dependency_up[PW_M_STORE], 0);
    v = get_json(&a, "/posts/p-1", 503);
    cr_assert_str_eq(json_string_value(json_object_get(v, "error")), "store_unavailable");
    json_decref(v);
    atomic_store(&a.m.dependency_up[PW_M_STORE], -1);

    /* Other methods: 405 with Allow; HEAD: the headers of GET and no body. */
    char cmd[200];
    snprintf(cmd, sizeof cmd,
             "curl -s -o /dev/null -w '%%{http_code}' -X DELETE %s/posts/p-1 | grep -qx 405",
             a.base);
    cr_assert_eq(system(cmd), 0, "DELETE is 405");
    snprintf(cmd, sizeof cmd, "curl -sI %s/posts/p-1 | grep -qi '^etag: \"1\"'", a.base);
    cr_assert_eq(system(cmd), 0, "HEAD has the ETag");
    snprintf(cmd, sizeof cmd, "test -z \"$(curl -s --head %s/posts/p-1 -o /dev/null "
             "-w '%%{size_download}' | tr -d 0)\"", a.base);
    cr_assert_eq(system(cmd), 0, "HEAD has no body");
    api_close(&a, ad);
}

void http_case_a_page_of_big_posts_ends_early_and_its_cursor_goes_on(
    const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    /* 60 posts of 100 KB: 6 MB, more than one answer may hold. */
    struct pw_errbuf err;
    store_begin(&a.s.uow);
    struct pw_repo repo = pw_uow_posts(&a.s.uow);
    for (int i = 0; i < 60; i++) {
        char id[16];
        snprintf(id, sizeof id, "big-%02d", i);
        struct pw_post p = store_post_make(id, 1);
        free(p.body);
        p.body = malloc(100001);
        memset(p.body, 'a' + i % 26, 100000);
        p.body[100000] = '\0';
        p.created_at = T0 + i;
        cr_assert_eq(pw_repo_add(&repo, &p, &err), PW_OK, "%s", err.msg);
        pw_post_release(&p);
    }
    store_commit(&a.s.uow);
    char path[512] = "/posts?limit=500";
    int seen = 0, pages = 0;
    for (;;) {
        json_t *v = get_json(&a, path, 200);
        size_t n = json_array_size(json_object_get(v, "posts"));
        for (size_t i = 0; i < n; i++) {
            char want[16];
            snprintf(want, sizeof want, "big-%02d", seen++);
            cr_assert_str_eq(json_string_value(json_object_get(
                                 json_array_get(json_object_get(v, "posts"), i), "post_id")),
                             want);
        }
        pages++;
        const char *next = json_string_value(json_object_get(v, "next"));
        if (!next) {
            json_decref(v);
            break;
        }
        cr_assert_gt(n, 0);
        snprintf(path, sizeof path, "/posts?limit=500&after=%s", next);
        json_decref(v);
        cr_assert_lt(pages, 10);
    }
    cr_assert_eq(seen, 60, "every post once");
    cr_assert_gt(pages, 1, "in more than one answer");
    api_close(&a, ad);
}

/* A reader thread: GETs of posts r-0..r-39 in its own order, each checked against its id. */
struct reader {
    struct api *a;
    unsigned seed;
    int wrong, failed;
};

void http_case_a_post_s_text_comes_back_exactly_every_byte_escaped_as_json(
    const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    /* Every byte but NUL below 0x80, then characters of 2, 3 and 4 bytes, and escapes' lookalikes. */
    char title[200], body[] = "\\u0041 \\\" \"\\ é € 𝄞 \x7f end\\";
    size_t n = 0;
    for (int ch = 1; ch < 0x80; ch++)
        title[n++] = (char)ch;
    strcpy(title + n, "é€𝄞");
    struct pw_post p = store_post_make("esc-1", 1);
    free(p.title);
    free(p.body);
    p.title = strdup(title);
    p.body = strdup(body);
    struct pw_errbuf err;
    store_begin(&a.s.uow);
    struct pw_repo repo = pw_uow_posts(&a.s.uow);
    cr_assert_eq(pw_repo_add(&repo, &p, &err), PW_OK, "%s", err.msg);
    store_commit(&a.s.uow);
    json_t *v = get_json(&a, "/posts/esc-1", 200);
    cr_assert_str_eq(json_string_value(json_object_get(v, "title")), title);
    cr_assert_str_eq(json_string_value(json_object_get(v, "body")), body);
    json_decref(v);
    v = get_json(&a, "/posts?limit=1", 200);
    json_t *first = json_array_get(json_object_get(v, "posts"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(first, "title")), title);
    cr_assert_str_eq(json_string_value(json_object_get(first, "body")), body);
    json_decref(v);
    pw_post_release(&p);
    api_close(&a, ad);
}

static void *read_many(void *arg)
{
    struct reader *r = arg;
    for (int k = 0; k < 60; k++) {
        int i = (int)(rand_r(&r->seed) % 40);
        char url[128], want[64];
        snprintf(url, sizeof url, "%s/posts/r-%d", r->a->base, i);
        snprintf(want, sizeof want, "\"post_id\":\"r-%d\",", i);
        struct pw_http_reply rep;
        struct pw_errbuf err;
        if (pw_curl_get(url, NULL, 20000, &rep, &err) != PW_OK) {
            r->failed++;
            continue;
        }
        char version[32];
        snprintf(version, sizeof version, "\"version\":%d,", i % 7 + 1);
        r->wrong += rep.status != 200 || !strstr(rep.body, want) || !strstr(rep.body, version);
        pw_http_reply_release(&rep);
    }
    return NULL;
}

void http_case_concurrent_readers_each_get_their_own_post(const struct store_adapter *ad)
{
    struct api a;
    api_open(&a, ad);
    for (int i = 0; i < 40; i++) {
        char id[16];
        snprintf(id, sizeof id, "r-%d", i);
        seed(&a, id, "Ada", i, false, i % 7 + 1);
    }
    struct pw_http_reply warm; /* libcurl's global set-up, once, before the threads */
    cr_assert_eq(get(&a, "/posts/r-0", NULL, &warm), 200);
    pw_http_reply_release(&warm);
    enum { READERS = 16 };
    struct reader rs[READERS];
    pthread_t ts[READERS];
    for (int t = 0; t < READERS; t++) {
        rs[t] = (struct reader){&a, (unsigned)t * 7919u + 1, 0, 0};
        cr_assert_eq(pthread_create(&ts[t], NULL, read_many, &rs[t]), 0);
    }
    int wrong = 0, failed = 0;
    for (int t = 0; t < READERS; t++) {
        pthread_join(ts[t], NULL);
        wrong += rs[t].wrong;
        failed += rs[t].failed;
    }
    cr_assert_eq(failed, 0, "every request answered");
    cr_assert_eq(wrong, 0, "%d answers were another post's, or not 200", wrong);
    api_close(&a, ad);
}
