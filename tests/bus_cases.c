/* The bus contract's cases (tests/bus_contract.h). */
#include "tests/bus_contract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers.h"

void bus_run(const struct bus_adapter *adapter,
             void (*fn)(struct bus_world *b, const struct bus_adapter *a))
{
    struct bus_world b;
    memset(&b, 0, sizeof b);
    adapter->open(&b);
    fn(&b, adapter);
    adapter->close(&b);
}

/* An event row for topic: command cmd_id's event on post_id at version. */
static struct pw_out event_row(const char *topic, const char *post_id, const char *cmd_id,
                               int64_t version)
{
    struct pw_out out;
    memset(&out, 0, sizeof out);
    out.kind = PW_OUT_EVENT;
    snprintf(out.topic, sizeof out.topic, "%s", topic);
    struct pw_cmd cmd = cmd_create(cmd_id, post_id, T0 + version);
    strcpy(cmd.env.correlation_id, "flow-1");
    struct pw_post post = {0};
    strcpy(post.post_id, post_id);
    post.author_name = strdup("Ada");
    post.title = strdup("Héllo \"quoted\"");
    post.body = strdup("line one\nline two");
    post.version = version;
    post.created_at = T0;
    post.updated_at = T0 + version;
    post.deleted_at = PW_TIME_NONE;
    pw_event_init(&out.ev, version == 1 ? PW_EVENT_POST_CREATED : PW_EVENT_POST_UPDATED, 0,
                  &cmd.env, &post);
    snprintf(out.ev.id, sizeof out.ev.id, "00000000-0000-5000-8000-%012lld", (long long)version);
    return out;
}

static void publish(struct bus_world *b, const struct pw_out *out)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_bus_publish(&b->bus, out, &err), PW_OK, "%s", err.msg);
}

static void flush(struct bus_world *b)
{
    struct pw_errbuf err;
    cr_assert_eq(pw_bus_flush(&b->bus, 10000, &err), PW_OK, "%s", err.msg);
}

static void assert_event_eq(const struct pw_event *got, const struct pw_event *want)
{
    cr_assert_str_eq(got->id, want->id);
    cr_assert_eq(got->type, want->type);
    cr_assert_eq(got->time, want->time);
    cr_assert_str_eq(got->causation_id, want->causation_id);
    cr_assert_str_eq(got->correlation_id, want->correlation_id);
    cr_assert_str_eq(got->post.post_id, want->post.post_id);
    cr_assert_str_eq(got->post.author_name, want->post.author_name);
    cr_assert_str_eq(got->post.title, want->post.title);
    cr_assert_str_eq(got->post.body, want->post.body);
    cr_assert_eq(got->post.version, want->post.version);
    cr_assert_eq(got->post.created_at, want->post.created_at);
    cr_assert_eq(got->post.updated_at, want->post.updated_at);
    cr_assert_eq(got->post.deleted_at, want->post.deleted_at);
}

static void release_rows(struct pw_out *rows, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pw_out_release(&rows[i]);
}

void bus_case_flushed_events_reach_their_topic_whole_and_in_order(struct bus_world *b,
                                                                 const struct bus_adapter *a)
{
    struct pw_out in[3];
    for (int i = 0; i < 3; i++) {
        char id[8];
        snprintf(id, sizeof id, "c%d", i);
        in[i] = event_row("post-events", "p-1", id, i + 1);
        publish(b, &in[i]);
    }
    flush(b);
    struct pw_out got[4];
    size_t n = a->delivered(b, "post-events", got, 4);
    cr_assert_eq(n, 3);
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(got[i].kind, PW_OUT_EVENT);
        assert_event_eq(&got[i].ev, &in[i].ev);
    }
    release_rows(got, n);
    release_rows(in, 3);
}

void bus_case_a_dead_letter_carries_the_original_bytes_and_why(struct bus_world *b,
                                                             const struct bus_adapter *a)
{
    static const char key[] = {'k', 0, 'y'};
    static const char value[] = {'{', 0, '\xff', '}'};
    static const char bin[] = {0, '\xfe'};
    const struct pw_header hs[] = {{"ce_id", "x-1", 3}, {"null", NULL, 0}, {"bin", bin, 2}};
    struct pw_out in;
    memset(&in, 0, sizeof in);
    in.kind = PW_OUT_DEAD_LETTER;
    strcpy(in.topic, "post-commands.dlq");
    in.dl = (struct pw_dead_letter){
        .origin = {.group = "grp", .topic = "post-commands", .partition = 3, .offset = 77,
                   .timestamp_ms = 1795168800123, .key = key, .key_len = sizeof key,
                   .value = value, .value_len = sizeof value, .headers = hs, .nheaders = 3},
        .code = PW_E_NOT_FOUND,
        .message = "post 'x' does not exist",
        .attempts = 1,
    };
    publish(b, &in);
    flush(b);
    struct pw_out got[2];
    size_t n = a->delivered(b, "post-commands.dlq", got, 2);
    cr_assert_eq(n, 1);
    cr_assert_eq(got[0].kind, PW_OUT_DEAD_LETTER);
    assert_dead_letter_eq(&got[0].dl, &in.dl);
    release_rows(got, n);
}

void bus_case_each_row_goes_to_the_topic_it_names(struct bus_world *b,
                                                  const struct bus_adapter *a)
{
    struct pw_out one = event_row("post-events", "p-1", "c1", 1);
    struct pw_out two = event_row("other-events", "p-2", "c2", 1);
    publish(b, &one);
    publish(b, &two);
    flush(b);
    struct pw_out got[2];
    size_t n = a->delivered(b, "other-events", got, 2);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(got[0].ev.post.post_id, "p-2");
    release_rows(got, n);
    n = a->delivered(b, "post-events", got, 2);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(got[0].ev.post.post_id, "p-1");
    release_rows(got, n);
    pw_out_release(&one);
    pw_out_release(&two);
}

void bus_case_a_flush_with_nothing_queued_succeeds(struct bus_world *b,
                                                   const struct bus_adapter *a)
{
    flush(b);
    struct pw_out got[1];
    cr_assert_eq(a->delivered(b, "post-events", got, 1), 0);
}
