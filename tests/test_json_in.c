/*
 * The fast JSON reader (json_in.h): it takes the common shape of a command,
 * says no to everything else, and a command decodes the same through it as
 * through jansson alone, errors included.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "adapters/kafka/json_in.h"

#define CMD "{\"specversion\":\"1.0\",\"id\":\"c-1\",\"source\":\"/t\",\"type\":\"CreatePost\"," \
            "\"time\":\"2026-11-20T10:00:00Z\",\"data\":{\"post_id\":\"p-1\","               \
            "\"author_name\":\"Ada\",\"title\":\"T\",\"body\":\"b\",\"expected_version\":3}}"

Test(json_in, the_common_shape_is_read_with_its_values)
{
    static const char doc[] = " {\"a\" : \"x\\n\\\"y\\\"\\/\\\\\\t\", \"n\":null,\r\n\"i\":-12,"
                              "\"o\":{\"s\":\"caf\xc3\xa9\",\"z\":0},\"e\":{}}\n";
    struct pw_json_flat f;
    cr_assert(pw_json_flat_read(doc, strlen(doc), &f));
    const struct pw_json_member *a = pw_json_flat_get(&f, -1, "a");
    cr_assert_eq(a->kind, PW_JSON_STRING);
    cr_assert_str_eq(a->str, "x\n\"y\"/\\\t");
    cr_assert_eq(a->len, strlen("x\n\"y\"/\\\t"));
    cr_assert_eq(pw_json_flat_get(&f, -1, "n")->kind, PW_JSON_NULL);
    cr_assert_eq(pw_json_flat_get(&f, -1, "i")->num, -12);
    const struct pw_json_member *o = pw_json_flat_get(&f, -1, "o");
    cr_assert_eq(o->kind, PW_JSON_OBJECT);
    int oi = (int)(o - f.m);
    cr_assert_str_eq(pw_json_flat_get(&f, oi, "s")->str, "caf\xc3\xa9");
    cr_assert_eq(pw_json_flat_get(&f, oi, "z")->num, 0);
    cr_assert_null(pw_json_flat_get(&f, -1, "s"), "a member of o is not a member of the outer one");
    cr_assert_eq(pw_json_flat_get(&f, -1, "e")->kind, PW_JSON_OBJECT);
    pw_json_flat_release(&f);
    cr_assert(pw_json_flat_read(CMD, strlen(CMD), &f));
    pw_json_flat_release(&f);
}

/* Everything the fast reader leaves to jansson. */
static const char *const unusual[] = {
    "", "   ", "[]", "\"s\"", "{", "{\"a\":\"x\"", "{\"a\":\"x\"}x", "{\"a\":\"x\",}",
    "{\"a\" \"x\"}", "{\"a\":\"\\u0041\"}", "{\"a\":\"\\x\"}", "{\"a\":1.5}", "{\"a\":1e3}",
    "{\"a\":1E3}", "{\"a\":true}", "{\"a\":false}", "{\"a\":[1]}", "{\"a\":\"x\",\"a\":\"y\"}",
    "{\"o\":{\"a\":1,\"a\":2}}", "{\"o\":{\"p\":{}}}", "{\"a\":\"tab\there\"}", "{\"a\":\"\xff\"}",
    "{\"a\":\"\xed\xa0\x80\"}", "{\"a\\u0062\":1}", "{\"\xc3\xa9\":1}", "{\"a\":1234567890123456789}",
    "{\"a\":01}", "{\"a\":-}", "{\"a\":nul}", "\xef\xbb\xbf{}", "{\"a\":\"x\"}\0",
    "{\"a\":99999999999999999999999}",
};

Test(json_in, anything_unusual_is_left_to_jansson)
{
    for (size_t i = 0; i < sizeof unusual / sizeof unusual[0]; i++) {
        struct pw_json_flat f;
        size_t len = strlen(unusual[i]) + (i == 30); /* case 30 keeps its NUL */
        cr_assert_not(pw_json_flat_read(unusual[i], len, &f), "case %zu was read", i);
    }
    char many[1024] = "{";
    for (int k = 0; k <= PW_JSON_FLAT_MAX; k++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%s\"k%d\":null", k ? "," : "", k);
    strcat(many, "}");
    struct pw_json_flat f;
    cr_assert_not(pw_json_flat_read(many, strlen(many), &f), "more members than it holds");
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

Test(json_in, a_command_decodes_the_same_with_or_without_it)
{
    static const char *const msgs[] = {
        CMD,
        "{\"specversion\":\"1.0\",\"id\":\"c-2\",\"source\":\"/t\",\"type\":\"UpdatePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"data\":{\"post_id\":\"p-1\",\"title\":5}}",
        "{\"specversion\":\"1.0\",\"id\":7,\"source\":\"/t\",\"type\":\"CreatePost\"}",
        "{\"specversion\":\"1.0\",\"id\":\"c-3\",\"source\":\"/t\",\"type\":\"DeletePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"data\":\"no\"}",
        "{\"specversion\":\"1.0\",\"id\":\"c-4\",\"source\":\"/t\",\"type\":\"DeletePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"data\":null}",
        "{\"specversion\":\"1.0\",\"id\":\"c-5\",\"source\":\"/t\",\"type\":\"CreatePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"data\":{\"post_id\":\"p\",\"expected_version\":-4,"
        "\"body\":\"line\\nline \\\"q\\\"\"}}",
        "{\"specversion\":\"1.0\",\"id\":\"c-6\",\"source\":\"/t\",\"type\":\"CreatePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"data\":{\"post_id\":\"p\",\"expected_version\":1.0}}",
        "{\"specversion\":\"1.0\",\"id\":\"c-7\",\"source\":\"/t\",\"type\":\"Nope\"}",
        "{\"specversion\":\"1.0\",\"id\":\"c-8\",\"id\":\"c-9\"}",
        "{\"specversion\":\"2.0\"}",
        "{\"specversion\":\"1.0\",\"id\":\"c-10\",\"source\":\"/t\",\"type\":\"CreatePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"datacontenttype\":\"text/plain\",\"data\":{}}",
        "not json",
    };
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        struct pw_ce_message m = {.value = msgs[i], .len = strlen(msgs[i]), .timestamp = 0};
        struct pw_cmd fast, slow;
        struct pw_errbuf ef, es;
        enum pw_err rf = pw_ce_decode_cmd_with(&m, true, &fast, &ef);
        enum pw_err rs = pw_ce_decode_cmd_with(&m, false, &slow, &es);
        cr_assert_eq(rf, rs, "case %zu: %s / %s", i, rf ? ef.msg : "ok", rs ? es.msg : "ok");
        if (rf) {
            cr_assert_str_eq(ef.msg, es.msg, "case %zu", i);
            continue;
        }
        cr_assert_eq(memcmp(&fast.env, &slow.env, sizeof fast.env), 0, "case %zu", i);
        cr_assert(same_str(fast.post_id, slow.post_id) && same_str(fast.title, slow.title) &&
                      same_str(fast.body, slow.body) && same_str(fast.author_name, slow.author_name) &&
                      same_str(fast.type_error, slow.type_error),
                  "case %zu", i);
        cr_assert_eq(fast.expected_version, slow.expected_version, "case %zu", i);
        pw_cmd_release(&fast);
        pw_cmd_release(&slow);
    }
}
