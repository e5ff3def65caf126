/*
 * Event ids are forever: a replay, a restore or a new version of the worker
 * must give a command's events the ids they had. These were computed by
 * the first implementation (snprintf of "len:source len:id index", SHA-1,
 * the namespace in adapters/uuid/ids_uuid.c); any change to how the name is
 * spelled breaks them.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "adapters/uuid/ids_uuid.h"
#include "domain/command.h"
#include "domain/text.h"

static const struct {
    const char *source, *id;
    unsigned index;
    const char *event_id;
} fixed_ids[] = {
    {"urn:src", "cmd-1", 0, "ba2388e5-d659-51ac-90e0-58961d9c7e90"},
    {"/blog-editor", "c-7f3a9", 0, "e1979972-f73d-594b-bc01-f4abf0a38343"},
    {"/blog-editor", "c-7f3a9", 1, "1e65ddc2-f3d9-5b3d-a72b-fd2c975a9796"},
    {"/\xc3\xbcn\xc3\xaf/\xc3\xa7\xc3\xb8" "d\xc3\xa9", "a b:c", 12,
     "24fc7ba4-4f7f-54f8-b4ec-3cb5c002bfa3"},
    /* The lengths keep these two apart. */
    {"a/", "bc", 0, "593b17e2-8142-5b0d-b793-105cd9812144"},
    {"a", "/bc", 0, "5fd2696f-8b00-5271-b79d-aae8bfb8dcda"},
};

Test(ids, an_event_keeps_the_id_it_was_first_given)
{
    struct pw_ids ids;
    pw_uuid_ids_open(&ids);
    for (size_t i = 0; i < sizeof fixed_ids / sizeof fixed_ids[0]; i++) {
        char out[PW_EVENT_ID_LEN + 1];
        pw_ids_event_id(&ids, fixed_ids[i].source, fixed_ids[i].id, fixed_ids[i].index, out);
        cr_expect_str_eq(out, fixed_ids[i].event_id, "case %zu", i);
    }
    pw_ids_close(&ids);
}

Test(ids, the_longest_source_and_id_the_codec_allows_still_make_an_id)
{
    static char source[PW_CMD_SOURCE_BYTES + 1], id[PW_CMD_ID_BYTES + 1];
    memset(source, 's', sizeof source - 1);
    memset(id, 'i', sizeof id - 1);
    struct pw_ids ids;
    pw_uuid_ids_open(&ids);
    char a[PW_EVENT_ID_LEN + 1], b[PW_EVENT_ID_LEN + 1];
    pw_ids_event_id(&ids, source, id, 4294967295u, a);
    id[sizeof id - 2] = 'j'; /* the last byte counts */
    pw_ids_event_id(&ids, source, id, 4294967295u, b);
    cr_expect_eq(strlen(a), PW_EVENT_ID_LEN);
    cr_expect_str_neq(a, b);
    pw_ids_close(&ids);
}

Test(text, a_copy_is_cut_to_fit_as_snprintf_would)
{
    char buf[4];
    cr_expect_eq(pw_text_copy(buf, sizeof buf, "ab"), 2);
    cr_expect_str_eq(buf, "ab");
    cr_expect_eq(pw_text_copy(buf, sizeof buf, "abcdef"), 3);
    cr_expect_str_eq(buf, "abc");
    cr_expect_eq(pw_text_copy(buf, 1, "abc"), 0);
    cr_expect_str_eq(buf, "");
    cr_expect_eq(pw_text_copy(buf, sizeof buf, ""), 0);
    cr_expect_str_eq(buf, "");
}
