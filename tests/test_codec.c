/*
 * The CloudEvents codec: every malformed case of the contract with its code,
 * binary mode, round trips, the exact event JSON, and random damage that must
 * never crash or leak (the sanitizers watch).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"
#include "domain/text.h"
#include "tests/helpers.h"

#define GOOD                                                                                  \
    "{\"specversion\":\"1.0\",\"id\":\"c-7f3a9\",\"source\":\"/blog-editor\","              \
    "\"type\":\"CreatePost\",\"time\":\"2026-11-20T10:00:00Z\","                             \
    "\"datacontenttype\":\"application/json\","                                              \
    "\"data\":{\"post_id\":\"hello-world\",\"author_name\":\"Ada\",\"title\":\"Hello\","     \
    "\"body\":\"First post\"}}"

static enum pw_err decode(const char *json, struct pw_cmd *cmd, struct pw_errbuf *err)
{
    struct pw_ce_message msg = {.value = json, .len = strlen(json), .timestamp = T0 + 1};
    return pw_ce_decode_cmd(&msg, cmd, err);
}

Test(codec, decodes_the_contract_example)
{
    struct pw_cmd cmd;
    struct pw_errbuf err;
    cr_assert_eq(decode(GOOD, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cmd.type, PW_CMD_CREATE_POST);
    cr_assert_str_eq(cmd.env.id, "c-7f3a9");
    cr_assert_str_eq(cmd.env.source, "/blog-editor");
    cr_assert_str_eq(cmd.env.correlation_id, "");
    cr_assert_eq(cmd.env.time, T0);
    cr_assert_str_eq(cmd.post_id, "hello-world");
    cr_assert_str_eq(cmd.author_name, "Ada");
    cr_assert_str_eq(cmd.title, "Hello");
    cr_assert_str_eq(cmd.body, "First post");
    cr_assert_eq(cmd.expected_version, 0);
    cr_assert_eq(pw_cmd_validate(&cmd, NULL), PW_OK);
    pw_cmd_release(&cmd);
}

/* The envelope of GOOD with one attribute replaced: %s is spliced in. */
#define ENV(attrs)                                                                             \
    "{" attrs ",\"data\":{\"post_id\":\"p\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"B\"}}"
#define BASE "\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\",\"type\":\"CreatePost\""

static const struct {
    const char *name;
    const char *json;
    enum pw_err code;
} bad_cases[] = {
    {"not json", "hello", PW_E_INVALID_JSON},
    {"empty", "", PW_E_INVALID_JSON},
    {"truncated", "{\"specversion\":\"1.0\"", PW_E_INVALID_JSON},
    {"an array", "[1,2]", PW_E_INVALID_JSON},
    {"a string", "\"CreatePost\"", PW_E_INVALID_JSON},
    {"trailing garbage", GOOD "x", PW_E_INVALID_JSON},
    {"duplicate key", ENV(BASE ",\"id\":\"c2\""), PW_E_INVALID_JSON},
    {"invalid utf-8", "{\"specversion\":\"1.0\",\"id\":\"\xff\"}", PW_E_INVALID_JSON},
    {"nul in a string", ENV("\"specversion\":\"1.0\",\"id\":\"a\\u0000b\",\"source\":\"/s\","
                            "\"type\":\"CreatePost\""), PW_E_INVALID_JSON},
    {"lone surrogate escape", ENV("\"specversion\":\"1.0\",\"id\":\"\\ud800\",\"source\":\"/s\","
                                  "\"type\":\"CreatePost\""), PW_E_INVALID_JSON},
    {"no specversion", ENV("\"id\":\"c1\",\"source\":\"/s\",\"type\":\"CreatePost\""),
     PW_E_MISSING_ATTRIBUTE},
    {"specversion 0.3", ENV("\"specversion\":\"0.3\",\"id\":\"c1\",\"source\":\"/s\","
                            "\"type\":\"CreatePost\""), PW_E_INVALID_ATTRIBUTE},
    {"specversion a number", ENV("\"specversion\":1.0,\"id\":\"c1\",\"source\":\"/s\","
                                 "\"type\":\"CreatePost\""), PW_E_INVALID_ATTRIBUTE},
    {"no id", ENV("\"specversion\":\"1.0\",\"source\":\"/s\",\"type\":\"CreatePost\""),
     PW_E_MISSING_ATTRIBUTE},
    {"empty id", ENV("\"specversion\":\"1.0\",\"id\":\"\",\"source\":\"/s\","
                     "\"type\":\"CreatePost\""), PW_E_INVALID_ATTRIBUTE},
    {"id a number", ENV("\"specversion\":\"1.0\",\"id\":7,\"source\":\"/s\","
                        "\"type\":\"CreatePost\""), PW_E_INVALID_ATTRIBUTE},
    {"no source", ENV("\"specversion\":\"1.0\",\"id\":\"c1\",\"type\":\"CreatePost\""),
     PW_E_MISSING_ATTRIBUTE},
    {"no type", ENV("\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\""),
     PW_E_MISSING_ATTRIBUTE},
    {"type an object", ENV("\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                           "\"type\":{}"), PW_E_INVALID_ATTRIBUTE},
    {"bad time", ENV(BASE ",\"time\":\"yesterday\""), PW_E_INVALID_ATTRIBUTE},
    {"time a number", ENV(BASE ",\"time\":1700000000"), PW_E_INVALID_ATTRIBUTE},
    {"correlationid a number", ENV(BASE ",\"correlationid\":5"), PW_E_INVALID_ATTRIBUTE},
    {"xml content type", ENV(BASE ",\"datacontenttype\":\"application/xml\""),
     PW_E_INVALID_ATTRIBUTE},
    {"no data", "{" BASE "}", PW_E_MISSING_ATTRIBUTE},
    {"null data", "{" BASE ",\"data\":null}", PW_E_MISSING_ATTRIBUTE},
    {"data a string", "{" BASE ",\"data\":\"post\"}", PW_E_INVALID_ATTRIBUTE},
    {"unknown type", ENV("\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                         "\"type\":\"PublishPost\""), PW_E_UNKNOWN_TYPE},
    {"event type as command", ENV("\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                                  "\"type\":\"PostCreated\""), PW_E_UNKNOWN_TYPE},
    {"unknown type without data", "{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                                  "\"type\":\"Nope\"}", PW_E_UNKNOWN_TYPE},
};

Test(codec, every_malformed_case_has_its_code_and_one_line)
{
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        struct pw_cmd cmd;
        struct pw_errbuf err;
        memset(&err, 0, sizeof err);
        enum pw_err rc = decode(bad_cases[i].json, &cmd, &err);
        cr_assert_eq(rc, bad_cases[i].code, "%s: got %s (%s)", bad_cases[i].name, pw_err_name(rc),
                     err.msg);
        cr_assert_neq(err.msg[0], '\0', "%s: a message", bad_cases[i].name);
        cr_assert_null(strchr(err.msg, '\n'), "%s: one line", bad_cases[i].name);
        cr_assert_null(cmd.mem, "%s: nothing left to free", bad_cases[i].name);
    }
}

static char *attr_of_length(const char *name, const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *val = malloc(u * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(val + i * u, unit, u);
    val[u * n] = '\0';
    const char *fmt = strcmp(name, "id") == 0
                          ? "{\"specversion\":\"1.0\",\"id\":\"%s\",\"source\":\"/s\",\"type\":"
                            "\"CreatePost\",\"data\":{}}"
                      : strcmp(name, "source") == 0
                          ? "{\"specversion\":\"1.0\",\"id\":\"c\",\"source\":\"%s\",\"type\":"
                            "\"CreatePost\",\"data\":{}}"
                          : "{\"specversion\":\"1.0\",\"id\":\"c\",\"source\":\"/s\",\"type\":"
                            "\"CreatePost\",\"correlationid\":\"%s\",\"data\":{}}";
    char *json = malloc(strlen(fmt) + strlen(val) + 1);
    sprintf(json, fmt, val);
    free(val);
    return json;
}

Test(codec, attribute_lengths_are_counted_in_characters)
{
    static const struct {
        const char *name, *unit;
        size_t n;
        enum pw_err code;
    } cases[] = {
        {"id", "x", 128, PW_OK},          {"id", "x", 129, PW_E_INVALID_ATTRIBUTE},
        {"id", "é", 128, PW_OK},          {"id", "😀", 129, PW_E_INVALID_ATTRIBUTE},
        {"source", "s", 256, PW_OK},      {"source", "s", 257, PW_E_INVALID_ATTRIBUTE},
        {"source", "😀", 256, PW_OK},
        {"correlationid", "k", 128, PW_OK}, {"correlationid", "k", 129, PW_E_INVALID_ATTRIBUTE},
        {"correlationid", "k", 0, PW_OK},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *json = attr_of_length(cases[i].name, cases[i].unit, cases[i].n);
        struct pw_cmd cmd;
        struct pw_errbuf err;
        cr_assert_eq(decode(json, &cmd, &err), cases[i].code, "%s x%zu: %s", cases[i].name,
                     cases[i].n, err.msg);
        pw_cmd_release(&cmd);
        free(json);
    }
}

Test(codec, a_value_over_the_limit_is_too_large)
{
    size_t len = PW_CE_MAX_MESSAGE + 1;
    char *big = malloc(len);
    memset(big, ' ', len);
    struct pw_ce_message msg = {.value = big, .len = len, .timestamp = T0};
    struct pw_cmd cmd;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_E_TOO_LARGE);
    free(big);
}

Test(codec, deep_nesting_is_refused_without_crashing)
{
    size_t depth = 100000;
    char *json = malloc(depth * 2 + 64);
    size_t n = (size_t)sprintf(json, "{\"specversion\":\"1.0\",\"x\":");
    memset(json + n, '[', depth);
    memset(json + n + depth, ']', depth);
    strcpy(json + n + 2 * depth, "}");
    struct pw_cmd cmd;
    cr_assert_eq(decode(json, &cmd, NULL), PW_E_INVALID_JSON);
    free(json);
}

Test(codec, data_fields_of_the_wrong_type_decode_and_fail_validation)
{
    static const struct {
        const char *data;
        const char *field;
    } wrong[] = {
        {"{\"post_id\":7,\"author_name\":\"A\",\"title\":\"T\",\"body\":\"B\"}", "post_id"},
        {"{\"post_id\":\"p\",\"author_name\":\"A\",\"title\":[\"T\"],\"body\":\"B\"}", "title"},
        {"{\"post_id\":\"p\",\"author_name\":true,\"title\":\"T\",\"body\":\"B\"}", "author_name"},
        {"{\"post_id\":\"p\",\"title\":\"T\",\"expected_version\":\"2\"}", "expected_version"},
        {"{\"post_id\":\"p\",\"title\":\"T\",\"expected_version\":2.5}", "expected_version"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\",\"type\":\"%s\","
                 "\"data\":%s}",
                 i < 3 ? "CreatePost" : "UpdatePost", wrong[i].data);
        struct pw_cmd cmd;
        struct pw_errbuf err;
        cr_assert_eq(decode(json, &cmd, &err), PW_OK, "%zu: %s", i, err.msg);
        cr_assert_eq(pw_cmd_validate(&cmd, &err), PW_E_VALIDATION_FAILED, "%zu", i);
        cr_assert_str_eq(cmd.type_error, wrong[i].field);
        pw_cmd_release(&cmd);
    }
}

Test(codec, expected_version_out_of_range_fails_validation_not_decoding)
{
    /* The last three are past what JSON numbers hold here: the audit's malformed ones. */
    static const char *values[] = {"0", "-3", "2147483648", "9223372036854775807",
                                   "1e400", "99999999999999999999999", "-1e999"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char json[512];
        snprintf(json, sizeof json,
                 "{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\",\"type\":\"DeletePost\","
                 "\"data\":{\"post_id\":\"p\",\"expected_version\":%s}}",
                 values[i]);
        struct pw_cmd cmd;
        cr_assert_eq(decode(json, &cmd, NULL), PW_OK, "%s", values[i]);
        cr_assert_eq(pw_cmd_validate(&cmd, NULL), PW_E_VALIDATION_FAILED, "%s", values[i]);
        pw_cmd_release(&cmd);
    }
    /* Out of range where an attribute's string belongs: still malformed, as any wrong value. */
    struct pw_cmd cmd;
    cr_assert_eq(decode("{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                        "\"type\":\"DeletePost\",\"time\":1e400,\"data\":{\"post_id\":\"p\"}}",
                        &cmd, NULL),
                 PW_E_INVALID_ATTRIBUTE);
    /* An unknown field out of range is ignored, as unknown fields are. */
    cr_assert_eq(decode("{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                        "\"type\":\"DeletePost\",\"data\":{\"post_id\":\"p\",\"n\":1e999}}",
                        &cmd, NULL),
                 PW_OK);
    pw_cmd_release(&cmd);
}

Test(codec, unknown_attributes_and_fields_are_ignored_and_time_falls_back)
{
    const char *json = "{\"specversion\":\"1.0\",\"id\":\"c1\",\"source\":\"/s\","
                       "\"type\":\"UpdatePost\",\"correlationid\":\"k-1\",\"extra\":[1,{}],"
                       "\"datacontenttype\":\"application/json; charset=utf-8\","
                       "\"data\":{\"post_id\":\"p\",\"body\":\"b\",\"expected_version\":3,"
                       "\"mood\":\"happy\",\"title\":null}}";
    struct pw_cmd cmd;
    struct pw_errbuf err;
    cr_assert_eq(decode(json, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cmd.env.time, T0 + 1, "no time attribute: the message timestamp");
    cr_assert_str_eq(cmd.env.correlation_id, "k-1");
    cr_assert_null(cmd.title, "null is absent");
    cr_assert_str_eq(cmd.body, "b");
    cr_assert_eq(cmd.expected_version, 3);
    pw_cmd_release(&cmd);

    struct pw_ce_message msg = {.value = json, .len = strlen(json), .timestamp = PW_TIME_NONE};
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_E_MISSING_ATTRIBUTE,
                 "no time and no timestamp");
}

#define H(n, v) {n, v, sizeof v - 1}

Test(codec, binary_mode_takes_attributes_from_headers)
{
    const char *data = "{\"post_id\":\"p1\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"B\"}";
    struct pw_header hs[] = {H("ce_specversion", "1.0"), H("ce_id", "b-1"),
                                H("ce_source", "/bin"), H("ce_type", "CreatePost"),
                                H("ce_time", "2026-11-20T10:00:00Z"),
                                H("ce_correlationid", "flow"), H("content-type", "application/json")};
    struct pw_ce_message msg = {.value = data, .len = strlen(data), .headers = hs,
                                .nheaders = 7, .timestamp = PW_TIME_NONE};
    struct pw_cmd cmd;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(cmd.env.id, "b-1");
    cr_assert_str_eq(cmd.env.source, "/bin");
    cr_assert_str_eq(cmd.env.correlation_id, "flow");
    cr_assert_eq(cmd.env.time, T0);
    cr_assert_str_eq(cmd.post_id, "p1");
    pw_cmd_release(&cmd);
}

Test(codec, binary_mode_malformed_cases)
{
    struct pw_header base[] = {H("ce_specversion", "1.0"), H("ce_id", "b-1"),
                                  H("ce_source", "/bin"), H("ce_type", "CreatePost")};
    struct pw_header nul_id[] = {H("ce_specversion", "1.0"), {"ce_id", "a\0b", 3},
                                    H("ce_source", "/bin"), H("ce_type", "CreatePost")};
    struct pw_header bad_utf8[] = {H("ce_specversion", "1.0"), H("ce_id", "b-1"),
                                      H("ce_source", "/\xc3"), H("ce_type", "CreatePost")};
    struct pw_header null_type[] = {H("ce_specversion", "1.0"), H("ce_id", "b-1"),
                                       H("ce_source", "/bin"), {"ce_type", NULL, 0}};
    struct pw_header old[] = {H("ce_specversion", "0.3"), H("ce_id", "b-1"),
                                 H("ce_source", "/bin"), H("ce_type", "CreatePost")};
    struct pw_header unknown[] = {H("ce_specversion", "1.0"), H("ce_id", "b-1"),
                                     H("ce_source", "/bin"), H("ce_type", "Shout")};
    const char *good = "{\"post_id\":\"p\"}";
    static const struct {
        int headers, nheaders;
        const char *value;
        enum pw_err code;
    } cases[] = {
        {0, 3, "{}", PW_E_MISSING_ATTRIBUTE}, /* no ce_type */
        {0, 4, "", PW_E_MISSING_ATTRIBUTE},   /* no data */
        {0, 4, "not json", PW_E_INVALID_JSON},
        {0, 4, "[]", PW_E_INVALID_JSON},
        {1, 4, NULL, PW_E_INVALID_ATTRIBUTE},
        {2, 4, NULL, PW_E_INVALID_ATTRIBUTE},
        {3, 4, NULL, PW_E_INVALID_ATTRIBUTE},
        {4, 4, NULL, PW_E_INVALID_ATTRIBUTE},
        {5, 4, NULL, PW_E_UNKNOWN_TYPE},
    };
    struct pw_header *sets[] = {base, nul_id, bad_utf8, null_type, old, unknown};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *value = cases[i].value ? cases[i].value : good;
        struct pw_ce_message msg = {.value = value, .len = strlen(value),
                                    .headers = sets[cases[i].headers],
                                    .nheaders = (size_t)cases[i].nheaders, .timestamp = T0};
        struct pw_cmd cmd;
        struct pw_errbuf err;
        enum pw_err rc = pw_ce_decode_cmd(&msg, &cmd, &err);
        cr_assert_eq(rc, cases[i].code, "case %zu: %s (%s)", i, pw_err_name(rc), err.msg);
    }
}

Test(codec, binary_mode_takes_any_number_of_unknown_headers_and_refuses_a_repeat)
{
    const char *value = "{\"post_id\":\"p\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}";
    enum { EXTRA = 40 };
    struct pw_header hs[EXTRA + 6];
    static char names[EXTRA][16];
    size_t n = 0;
    /* Forty unknown ce_ headers first: the audit's 17 made the command look structured. */
    for (int i = 0; i < EXTRA; i++) {
        snprintf(names[i], sizeof names[i], "ce_x%d", i);
        hs[n++] = (struct pw_header)H(names[i], "v");
    }
    hs[n++] = (struct pw_header)H("ce_specversion", "1.0");
    hs[n++] = (struct pw_header)H("ce_id", "b-1");
    hs[n++] = (struct pw_header)H("ce_source", "/bin");
    hs[n++] = (struct pw_header)H("ce_type", "CreatePost");
    struct pw_ce_message msg = {.value = value, .len = strlen(value), .headers = hs,
                                .nheaders = n, .timestamp = T0};
    struct pw_cmd cmd;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(cmd.env.id, "b-1");
    pw_cmd_release(&cmd);
    /* The same attribute twice, with two values: two readers could see two commands. */
    hs[n++] = (struct pw_header)H("ce_type", "DeletePost");
    msg.nheaders = n;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_E_INVALID_ATTRIBUTE, "%s", err.msg);
    cr_assert(strstr(err.msg, "ce_type"), "%s", err.msg);
    /* And an unknown one twice. */
    hs[n - 1] = (struct pw_header)H("ce_x7", "again");
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_E_INVALID_ATTRIBUTE, "%s", err.msg);
}

Test(codec, a_command_survives_encode_then_decode)
{
    struct pw_cmd cmd = cmd_update("c-9", "p-1", "Tïtle \"quoted\"\n", 4, T0 + 250000);
    cmd.body = "body";
    strcpy(cmd.env.correlation_id, "corr");
    char *json;
    size_t len;
    cr_assert_eq(pw_ce_encode_cmd(&cmd, &json, &len, NULL), PW_OK);
    struct pw_ce_message msg = {.value = json, .len = len, .timestamp = PW_TIME_NONE};
    struct pw_cmd back;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &back, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(back.type, PW_CMD_UPDATE_POST);
    cr_assert_str_eq(back.env.id, "c-9");
    cr_assert_str_eq(back.env.source, "/test");
    cr_assert_str_eq(back.env.correlation_id, "corr");
    cr_assert_eq(back.env.time, T0 + 250000);
    cr_assert_str_eq(back.title, cmd.title);
    cr_assert_str_eq(back.body, "body");
    cr_assert_eq(back.expected_version, 4);
    pw_cmd_release(&back);
    free(json);
}

static struct pw_event sample_event(void)
{
    struct pw_cmd cmd = cmd_create("c-7f3a9", "hello-world", T0);
    struct pw_post post;
    cr_assert_eq(pw_post_create(false, &cmd, &post, NULL), PW_OK);
    struct pw_event ev;
    pw_event_init(&ev, PW_EVENT_POST_CREATED, 0, &cmd.env, &post);
    strcpy(ev.id, "5d1c0a39-4b1e-5f0a-9a3c-1d2e3f405162");
    return ev;
}

Test(codec, an_event_encodes_exactly_as_the_contract_shows)
{
    struct pw_event ev = sample_event();
    char *json;
    size_t len;
    cr_assert_eq(pw_ce_encode_event(&ev, &json, &len, NULL), PW_OK);
    cr_assert_str_eq(json,
                     "{\"specversion\":\"1.0\",\"id\":\"5d1c0a39-4b1e-5f0a-9a3c-1d2e3f405162\","
                     "\"source\":\"/postworker\",\"type\":\"PostCreated\",\"subject\":\"hello-world\","
                     "\"time\":\"2026-11-20T10:00:00Z\",\"datacontenttype\":\"application/json\","
                     "\"causationid\":\"c-7f3a9\",\"correlationid\":\"c-7f3a9\","
                     "\"data\":{\"post_id\":\"hello-world\",\"author_name\":\"Ada\","
                     "\"title\":\"Hello\",\"body\":\"First post\",\"version\":1,"
                     "\"created_at\":\"2026-11-20T10:00:00Z\","
                     "\"updated_at\":\"2026-11-20T10:00:00Z\",\"deleted_at\":null}}");
    cr_assert_eq(len, strlen(json));
    struct pw_event back;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_decode_event(json, len, &back, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(back.id, ev.id);
    cr_assert_eq(back.type, ev.type);
    cr_assert_str_eq(back.post.body, "First post");
    cr_assert_eq(back.post.deleted_at, PW_TIME_NONE);
    cr_assert_eq(back.time, T0);
    pw_event_release(&back);
    pw_event_release(&ev);
    free(json);
}

Test(codec, an_effect_time_outside_years_1_to_9999_is_invalid_attribute)
{
    struct pw_cmd cmd;
    struct pw_errbuf err;
    const char *before_year_1 =
        "{\"specversion\":\"1.0\",\"id\":\"y0\",\"source\":\"/a\",\"type\":\"CreatePost\","
        "\"time\":\"0001-01-01T00:00:00+00:01\",\"data\":{\"post_id\":\"y0\"}}";
    cr_assert_eq(decode(before_year_1, &cmd, &err), PW_E_INVALID_ATTRIBUTE, "%s", err.msg);
    /* No time attribute, and a Kafka timestamp no calendar holds: no overflow, a clear code. */
    const char *no_time = "{\"specversion\":\"1.0\",\"id\":\"t\",\"source\":\"/a\","
                          "\"type\":\"CreatePost\",\"data\":{\"post_id\":\"t\"}}";
    struct pw_ce_message msg = {.value = no_time, .len = strlen(no_time),
                                .timestamp = PW_TIME_MAX + 1};
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_E_INVALID_ATTRIBUTE, "%s", err.msg);
    cr_assert(strstr(err.msg, "timestamp"), "%s", err.msg);
    msg.timestamp = PW_TIME_MAX;
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_eq(cmd.env.time, PW_TIME_MAX);
    pw_cmd_release(&cmd);
}

/* What the reviewers found: reasons that quoted a message's bytes, cut mid-character. */
Test(codec, a_reason_is_valid_utf8_whatever_the_message_holds)
{
    static const char *const inputs[] = {
        "{\"\\\xc3\xa9\"}",
        "{\"specversion\":\"1.0\",\"id\":\"c\",\"source\":\"/s\",\"type\":"
        "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\xc3\xa9\"}",
        "\xff\xfe{",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        struct pw_cmd cmd;
        struct pw_errbuf err;
        cr_assert_neq(decode(inputs[i], &cmd, &err), PW_OK, "input %zu", i);
        cr_assert_geq(pw_text_codepoints(err.msg, strlen(err.msg)), 0, "input %zu: %s", i,
                      err.msg);
    }
}

Test(codec, random_damage_never_crashes_or_leaks)
{
    /* A fixed seed: the same mutations every run, so a failure reproduces. */
    srand(20261120);
    size_t len = strlen(GOOD);
    char *buf = malloc(len + 1);
    unsigned ok = 0, bad = 0;
    for (int round = 0; round < 20000; round++) {
        memcpy(buf, GOOD, len + 1);
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits; e++)
            buf[rand() % len] = (char)(rand() % 256);
        size_t cut = rand() % 8 == 0 ? (size_t)rand() % len : len;
        struct pw_ce_message msg = {.value = buf, .len = cut, .timestamp = T0};
        struct pw_cmd cmd;
        struct pw_errbuf err;
        enum pw_err rc = pw_ce_decode_cmd(&msg, &cmd, &err);
        if (rc == PW_OK) {
            ok++;
            pw_cmd_validate(&cmd, &err);
            pw_cmd_release(&cmd);
        } else {
            bad++;
            cr_assert(pw_err_is_dead_letter(rc), "%s", pw_err_name(rc));
            cr_assert_geq(pw_text_codepoints(err.msg, strlen(err.msg)), 0, "round %d", round);
        }
    }
    cr_assert_gt(ok, 0);
    cr_assert_gt(bad, 0);
    free(buf);
}

#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

Test(codec, the_trace_context_comes_from_headers_or_attributes_and_a_bad_one_is_ignored)
{
    struct pw_cmd cmd;
    struct pw_errbuf err;
    /* The message headers. */
    struct pw_header hs[] = {{"traceparent", TP, strlen(TP)}, {"tracestate", "vendor=1", 8}};
    struct pw_ce_message msg = {.value = GOOD, .len = strlen(GOOD), .headers = hs, .nheaders = 2};
    cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(cmd.env.traceparent, TP);
    cr_assert_str_eq(cmd.env.tracestate, "vendor=1");
    pw_cmd_release(&cmd);
    /* The CloudEvents attributes, in structured mode. */
    const char *with_attr =
        "{\"specversion\":\"1.0\",\"id\":\"c-1\",\"source\":\"/s\",\"type\":\"CreatePost\","
        "\"time\":\"2026-11-20T10:00:00Z\",\"traceparent\":\"" TP "\",\"tracestate\":\"a=b\","
        "\"data\":{\"post_id\":\"p\",\"author_name\":\"A\",\"title\":\"T\",\"body\":\"b\"}}";
    cr_assert_eq(decode(with_attr, &cmd, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(cmd.env.traceparent, TP);
    cr_assert_str_eq(cmd.env.tracestate, "a=b");
    pw_cmd_release(&cmd);
    /* Not a valid traceparent (upper case, zero trace id, short): not continued, not malformed. */
    const char *bad[] = {"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                         "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                         "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "00-abc",
                         "zz"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct pw_header h[] = {{"traceparent", bad[i], strlen(bad[i])}};
        msg = (struct pw_ce_message){.value = GOOD, .len = strlen(GOOD), .headers = h,
                                     .nheaders = 1};
        cr_assert_eq(pw_ce_decode_cmd(&msg, &cmd, &err), PW_OK, "case %zu: %s", i, err.msg);
        cr_assert_str_eq(cmd.env.traceparent, "", "case %zu", i);
        pw_cmd_release(&cmd);
    }
}

Test(codec, an_event_carries_its_trace_context_as_attributes)
{
    struct pw_event ev = sample_event();
    strcpy(ev.traceparent, "00-4bf92f3577b34da6a3ce929d0e0e4736-1111222233334444-01");
    strcpy(ev.tracestate, "vendor=1");
    char *json;
    size_t len;
    struct pw_errbuf err;
    cr_assert_eq(pw_ce_encode_event(&ev, &json, &len, &err), PW_OK, "%s", err.msg);
    cr_assert(strstr(json, "\"traceparent\":\"00-4bf92f3577b34da6a3ce929d0e0e4736-1111222233334444-01\""));
    cr_assert(strstr(json, "\"tracestate\":\"vendor=1\""));
    struct pw_event back;
    cr_assert_eq(pw_ce_decode_event(json, len, &back, &err), PW_OK, "%s", err.msg);
    cr_assert_str_eq(back.traceparent, ev.traceparent);
    cr_assert_str_eq(back.tracestate, "vendor=1");
    pw_event_release(&back);
    free(json);
    pw_event_release(&ev);
}

Test(codec, an_event_span_is_the_parents_trace_with_a_span_from_the_event_id)
{
    char out[PW_TRACEPARENT_LEN + 1];
    pw_trace_child(TP, "6f1c2a9e-0b7d-5e3f-8a1b-2c3d4e5f6a7b", out);
    cr_assert_str_eq(out, "00-4bf92f3577b34da6a3ce929d0e0e4736-6f1c2a9e0b7d5e3f-01");
    cr_assert(pw_trace_parent_ok(out, strlen(out)));
    pw_trace_child(TP, "00000000-0000-0000-0000-000000000000", out);
    cr_assert(pw_trace_parent_ok(out, strlen(out)), "never an all-zero span: %s", out);
}
