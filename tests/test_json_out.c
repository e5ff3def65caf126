/*
 * The hand-written JSON writer against jansson: the same document built
 * both ways must be the same bytes, for every character a string can hold,
 * and text that is not UTF-8 must fail as json_string() refuses it.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/json_out.h"

/* {"k":s,"n":{"v":s,"i":i}} by both writers; the hand-written one may fail (NULL). */
static char *both(const char *s, long long i, char **ref)
{
    json_t *inner = json_object(), *root = json_object();
    json_t *a = json_string(s), *b = json_string(s);
    *ref = NULL;
    if (a && b) {
        json_object_set_new(root, "k", a);
        json_object_set_new(inner, "v", b);
        json_object_set_new(inner, "i", json_integer(i));
        json_object_set_new(root, "n", inner);
        *ref = json_dumps(root, JSON_COMPACT);
    } else {
        json_decref(a);
        json_decref(b);
        json_decref(inner);
    }
    json_decref(root);
    struct pw_json_out w;
    pw_json_begin(&w, 8);
    pw_json_string(&w, "k", s);
    pw_json_object(&w, "n");
    pw_json_string(&w, "v", s);
    pw_json_integer(&w, "i", i);
    pw_json_end(&w);
    pw_json_end(&w);
    size_t len = 0;
    char *doc = pw_json_finish(&w, &len);
    if (doc)
        cr_assert_eq(len, strlen(doc));
    return doc;
}

static void same(const char *s, long long i)
{
    char *ref, *doc = both(s, i, &ref);
    cr_assert_not_null(ref);
    cr_assert_not_null(doc, "the writer refused what jansson took");
    cr_assert_str_eq(doc, ref);
    free(doc);
    free(ref);
}

Test(json_out, every_byte_below_0x80_is_written_as_jansson_writes_it)
{
    char s[2] = {0};
    for (int c = 1; c < 0x80; c++) {
        s[0] = (char)c;
        same(s, c);
    }
}

Test(json_out, text_beyond_ascii_and_long_strings_are_the_same_bytes)
{
    static const char *const cases[] = {
        "", "plain", "caf\xc3\xa9", "\xe2\x80\xa8 line separator", "\xf0\x9f\x98\x80 emoji",
        "\"quoted\" \\back\\ /slash/", "tab\tnew\nline\rcr\bbs\fff\x01\x1f\x7f",
        "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        same(cases[i], (long long)i - 3);
    char big[70000];
    for (size_t i = 0; i < sizeof big - 1; i++)
        big[i] = "a\"\\\n\x02 z"[i % 7];
    big[sizeof big - 1] = '\0';
    same(big, 9223372036854775807LL);
    same("x", -9223372036854775807LL - 1);
}

Test(json_out, text_that_is_not_utf8_fails_the_document_as_jansson_refuses_it)
{
    static const char *const bad[] = {
        "\xff", "\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ok then \x80",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *ref, *doc = both(bad[i], 0, &ref);
        cr_assert_null(ref, "case %zu: jansson took it", i);
        cr_assert_null(doc, "case %zu: the writer took it", i);
    }
}

Test(json_out, an_event_is_the_document_jansson_would_build)
{
    struct pw_event ev = {.type = PW_EVENT_POST_UPDATED, .time = 0};
    strcpy(ev.id, "e-1");
    strcpy(ev.causation_id, "c \"1\"");
    strcpy(ev.correlation_id, "r\n1");
    strcpy(ev.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111222233334444-01");
    strcpy(ev.tracestate, "a=1");
    strcpy(ev.post.post_id, "p-1");
    ev.post.author_name = "Ada \xc3\xa9";
    ev.post.title = "T\t";
    ev.post.body = "line 1\nline 2 \x01";
    ev.post.version = 7;
    ev.post.created_at = 0;
    ev.post.updated_at = 1000000;
    ev.post.deleted_at = PW_TIME_NONE;
    char *json;
    size_t len;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_encode_event(&ev, &json, &len, &err), PW_OK, "%s", err.msg);
    json_t *data = json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:s,s:n}", "post_id", "p-1",
                             "author_name", ev.post.author_name, "title", "T\t", "body",
                             ev.post.body, "version", (json_int_t)7, "created_at",
                             "1970-01-01T00:00:00Z", "updated_at", "1970-01-01T00:00:01Z",
                             "deleted_at");
    json_t *root = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:o}", "specversion",
                             "1.0", "id", "e-1", "source", "/postworker", "type", "PostUpdated",
                             "subject", "p-1", "time", "1970-01-01T00:00:00Z", "datacontenttype",
                             "application/json", "causationid", ev.causation_id, "correlationid",
                             ev.correlation_id, "traceparent", ev.traceparent, "tracestate", "a=1",
                             "data", data);
    cr_assert_not_null(root);
    char *ref = json_dumps(root, JSON_COMPACT);
    cr_assert_str_eq(json, ref);
    cr_assert_eq(len, strlen(ref));
    free(ref);
    free(json);
    json_decref(root);
}
