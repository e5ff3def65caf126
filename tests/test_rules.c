/*
 * The contract's field rules at their boundaries, table-driven, and the
 * business rules as pure functions of the domain.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "domain/command.h"
#include "domain/post.h"
#include "domain/text.h"
#include "tests/helpers.h"

/* n copies of unit (a UTF-8 sequence) as a new string. */
static char *repeat(const char *unit, size_t n)
{
    size_t u = strlen(unit);
    char *s = malloc(u * n + 1);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * u, unit, u);
    s[u * n] = '\0';
    return s;
}

enum field { F_POST_ID, F_AUTHOR, F_TITLE, F_BODY };

static const struct {
    enum field field;
    const char *unit; /* repeated count times */
    size_t count;
    bool ok;
} field_cases[] = {
    {F_POST_ID, "a", 1, true},
    {F_POST_ID, "a", 64, true},
    {F_POST_ID, "a", 65, false},
    {F_POST_ID, "", 0, false},
    {F_POST_ID, "AZaz09._-", 1, true},
    {F_POST_ID, "a b", 1, false},
    {F_POST_ID, "a/b", 1, false},
    {F_POST_ID, "é", 1, false},
    {F_AUTHOR, "x", 100, true},
    {F_AUTHOR, "x", 101, false},
    {F_AUTHOR, "Ω", 100, true}, /* code points, not bytes */
    {F_AUTHOR, "Ω", 101, false},
    {F_AUTHOR, " ", 3, false},
    {F_AUTHOR, "", 0, false},
    {F_TITLE, "é", 200, true}, /* 400 bytes, 200 code points */
    {F_TITLE, "é", 201, false},
    {F_TITLE, "😀", 200, true}, /* 4-byte sequences */
    {F_TITLE, "😀", 201, false},
    {F_TITLE, "\u3000", 2, false}, /* ideographic space is white space */
    {F_TITLE, " \t\n", 1, false},
    {F_TITLE, " a ", 1, true},
    {F_TITLE, "\xc3\x28", 1, false}, /* invalid UTF-8 */
    {F_TITLE, "\xed\xa0\x80", 1, false}, /* a surrogate */
    {F_TITLE, "\xc0\xaf", 1, false}, /* an overlong form */
    {F_BODY, "b", 100000, true},
    {F_BODY, "b", 100001, false},
    {F_BODY, "é", 50000, true}, /* bytes, not code points: 100,000 */
    {F_BODY, "é", 50001, false},
    {F_BODY, " ", 5, true}, /* a body may be white space */
    {F_BODY, "", 0, false},
    {F_BODY, "\xf4\x90\x80\x80", 1, false}, /* past U+10FFFF */
};

Test(rules, every_field_rule_holds_at_its_boundaries)
{
    for (size_t i = 0; i < sizeof field_cases / sizeof field_cases[0]; i++) {
        char *value = repeat(field_cases[i].unit, field_cases[i].count);
        struct pw_cmd cmd = cmd_create("c1", "p1", T0);
        const char **slot[] = {&cmd.post_id, &cmd.author_name, &cmd.title, &cmd.body};
        *slot[field_cases[i].field] = value;
        struct pw_errbuf err;
        enum pw_err rc = pw_cmd_validate(&cmd, &err);
        cr_assert_eq(rc, field_cases[i].ok ? PW_OK : PW_E_VALIDATION_FAILED,
                     "case %zu (%zu x '%s'): %s", i, field_cases[i].count, field_cases[i].unit,
                     err.msg);
        free(value);
    }
}

Test(rules, a_missing_field_is_validation_failed_naming_it)
{
    struct pw_cmd cmd = cmd_create("c1", "p1", T0);
    cmd.title = NULL;
    struct pw_errbuf err;
    cr_assert_eq(pw_cmd_validate(&cmd, &err), PW_E_VALIDATION_FAILED);
    cr_assert_str_eq(err.msg, "title is required");
    cmd = cmd_create("c1", NULL, T0);
    cr_assert_eq(pw_cmd_validate(&cmd, &err), PW_E_VALIDATION_FAILED);
    cr_assert_str_eq(err.msg, "post_id is required");
}

Test(rules, update_needs_title_or_body)
{
    struct pw_cmd cmd = cmd_update("c1", "p1", NULL, 0, T0);
    cr_assert_eq(pw_cmd_validate(&cmd, NULL), PW_E_VALIDATION_FAILED);
    cmd.body = "new body";
    cr_assert_eq(pw_cmd_validate(&cmd, NULL), PW_OK);
}

Test(rules, expected_version_is_an_integer_of_at_least_one)
{
    static const struct {
        int64_t v;
        bool ok;
    } cases[] = {{0, true} /* absent */, {1, true}, {-1, false},
                 {INT32_MAX, true}, {(int64_t)INT32_MAX + 1, false}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct pw_cmd up = cmd_update("c1", "p1", "t", cases[i].v, T0);
        struct pw_cmd del = cmd_delete("c2", "p1", cases[i].v, T0);
        enum pw_err want = cases[i].ok ? PW_OK : PW_E_VALIDATION_FAILED;
        cr_assert_eq(pw_cmd_validate(&up, NULL), want, "update %lld", (long long)cases[i].v);
        cr_assert_eq(pw_cmd_validate(&del, NULL), want, "delete %lld", (long long)cases[i].v);
    }
}

Test(rules, a_field_of_the_wrong_json_type_is_validation_failed)
{
    struct pw_cmd cmd = cmd_create("c1", "p1", T0);
    cmd.type_error = "title";
    struct pw_errbuf err;
    cr_assert_eq(pw_cmd_validate(&cmd, &err), PW_E_VALIDATION_FAILED);
    cr_assert_str_eq(err.msg, "title has the wrong JSON type");
}

Test(rules, create_makes_version_one_at_the_effect_time)
{
    struct pw_cmd cmd = cmd_create("c1", "p1", T0 + 5);
    struct pw_post post;
    cr_assert_eq(pw_post_create(false, &cmd, &post, NULL), PW_OK);
    cr_assert_eq(post.version, 1);
    cr_assert_eq(post.created_at, T0 + 5);
    cr_assert_eq(post.updated_at, T0 + 5);
    cr_assert_not(pw_post_is_deleted(&post));
    cr_assert_str_eq(post.title, "Hello");
    pw_post_release(&post);
}

Test(rules, business_rules_refuse_and_leave_the_post_untouched)
{
    struct pw_cmd create = cmd_create("c1", "p1", T0);
    struct pw_post post;
    struct pw_errbuf err;
    cr_assert_eq(pw_post_create(true, &create, &post, &err), PW_E_ALREADY_EXISTS);
    cr_assert_str_eq(err.msg, "post 'p1' already exists");
    cr_assert_eq(pw_post_create(false, &create, &post, NULL), PW_OK);

    struct pw_cmd stale = cmd_update("c2", "p1", "New", 2, T0 + 1);
    cr_assert_eq(pw_post_update(&post, &stale, &err), PW_E_VERSION_CONFLICT);
    cr_assert_str_eq(err.msg, "post 'p1' is at version 1, not the expected 2");
    cr_assert_str_eq(post.title, "Hello");
    cr_assert_eq(post.version, 1);

    struct pw_cmd missing = cmd_update("c3", "p2", "New", 0, T0 + 1);
    cr_assert_eq(pw_post_update(NULL, &missing, &err), PW_E_NOT_FOUND);
    cr_assert_eq(pw_post_delete(NULL, &missing, &err), PW_E_NOT_FOUND);

    struct pw_cmd del = cmd_delete("c4", "p1", 1, T0 + 2);
    cr_assert_eq(pw_post_delete(&post, &del, NULL), PW_OK);
    cr_assert_eq(post.version, 2);
    cr_assert_eq(post.deleted_at, T0 + 2);
    cr_assert_eq(post.updated_at, T0 + 2);

    struct pw_cmd after = cmd_update("c5", "p1", "New", 0, T0 + 3);
    cr_assert_eq(pw_post_update(&post, &after, &err), PW_E_POST_DELETED);
    cr_assert_str_eq(err.msg, "post 'p1' is deleted");
    cr_assert_eq(pw_post_delete(&post, &after, NULL), PW_E_POST_DELETED);
    cr_assert_eq(post.version, 2);
    pw_post_release(&post);
}

Test(rules, update_changes_only_the_fields_given)
{
    struct pw_cmd create = cmd_create("c1", "p1", T0);
    struct pw_post post;
    cr_assert_eq(pw_post_create(false, &create, &post, NULL), PW_OK);
    struct pw_cmd up = cmd_update("c2", "p1", NULL, 1, T0 + 10);
    up.body = "Second body";
    cr_assert_eq(pw_post_update(&post, &up, NULL), PW_OK);
    cr_assert_str_eq(post.title, "Hello");
    cr_assert_str_eq(post.body, "Second body");
    cr_assert_eq(post.version, 2);
    cr_assert_eq(post.created_at, T0);
    cr_assert_eq(post.updated_at, T0 + 10);
    pw_post_release(&post);
}

Test(text, counts_code_points_and_refuses_nul)
{
    cr_assert_eq(pw_text_codepoints("héllo", strlen("héllo")), 5);
    cr_assert_eq(pw_text_codepoints("a\0b", 3), -1);
    cr_assert_eq(pw_text_codepoints("\xe2\x82", 2), -1, "truncated sequence");
    cr_assert(pw_text_is_blank("", 0));
    cr_assert_not(pw_text_is_blank("\xc3", 1));
}

Test(errors, names_are_the_contract_codes_and_kinds)
{
    cr_assert_str_eq(pw_err_name(PW_E_VERSION_CONFLICT), "version_conflict");
    cr_assert_str_eq(pw_err_name(PW_E_INVALID_JSON), "invalid_json");
    cr_assert_str_eq(pw_err_kind_name(pw_err_kind(PW_E_UNKNOWN_TYPE)), "unsupported");
    cr_assert_str_eq(pw_err_kind_name(pw_err_kind(PW_E_TOO_LARGE)), "malformed");
    cr_assert_str_eq(pw_err_kind_name(pw_err_kind(PW_E_POST_DELETED)), "rejected");
    cr_assert(pw_err_is_transient(PW_E_TRANSIENT));
    cr_assert_not(pw_err_is_dead_letter(PW_E_TRANSIENT));
    cr_assert_str_eq(pw_err_name((enum pw_err)999), "unknown");
    struct pw_errbuf err;
    pw_err_set(&err, PW_E_FATAL, "two\nlines");
    cr_assert_str_eq(err.msg, "two?lines", "messages stay on one line");
}

Test(text, escaping_keeps_a_log_line_one_line_and_free_of_terminal_codes)
{
    char out[128];
    cr_assert_str_eq(pw_text_escape("x\n2026-01-01T00:00:00Z postworker error: forged", out,
                                    sizeof out),
                     "x\\x0a2026-01-01T00:00:00Z postworker error: forged");
    cr_assert_str_eq(pw_text_escape("\x1b[31mred\x7f", out, sizeof out), "\\x1b[31mred\\x7f");
    cr_assert_str_eq(pw_text_escape("c1 \xc2\x9b ls \xe2\x80\xa8 h\xc3\xa9 \xff", out, sizeof out),
                     "c1 \\x9b ls \\u2028 h\xc3\xa9 \\xff", "%s", out);
    char tiny[6];
    cr_assert_str_eq(pw_text_escape("\n\n\n", tiny, sizeof tiny), "\\x0a", "cut whole, never mid-escape");
}

Test(errors, messages_are_valid_utf8_whatever_they_quote)
{
    struct pw_errbuf err;
    pw_err_set(&err, PW_E_INVALID_JSON, "near '%s'", "\"\xc3");
    cr_assert_str_eq(err.msg, "near '\"?'", "a lone lead byte becomes ?");
    pw_err_set(&err, PW_E_INVALID_JSON, "%s", "ok \xe2\x82\xac \xff\xfe \xed\xa0\x80");
    cr_assert_str_eq(err.msg, "ok \xe2\x82\xac ?? ???", "the euro stays, the rest does not");
    /* A character cut by the buffer's end. */
    char longmsg[400];
    memset(longmsg, 'a', sizeof longmsg);
    for (size_t i = 250; i + 2 < sizeof longmsg; i += 3)
        memcpy(longmsg + i, "\xe2\x82\xac", 3);
    longmsg[sizeof longmsg - 1] = '\0';
    for (int shift = 0; shift < 3; shift++) {
        pw_err_set(&err, PW_E_INVALID_JSON, "%s", longmsg + shift);
        cr_assert_geq(pw_text_codepoints(err.msg, strlen(err.msg)), 0, "shift %d", shift);
    }
}
