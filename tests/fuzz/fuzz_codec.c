/*
 * libFuzzer target for the CloudEvents codec (make fuzz): a command message
 * in structured or binary mode, decoded, validated, and, when it decodes,
 * encoded and decoded again; and the event it would make, encoded and
 * decoded back. Nothing may crash, leak or misbehave (the sanitizers
 * watch), every round trip must give back what went in, and the fast JSON
 * reader (json_in.h) and jansson must decode every message alike: the same
 * command, or the same error.
 *
 * The input: its first byte chooses the mode (bit 0: binary, headers
 * follow) and whether the message has a timestamp (bit 1, then 8 bytes);
 * the rest is split at 0xff bytes into the value and then "name=value"
 * headers. make test replays tests/fuzz/corpus through the same function
 * (tests/fuzz/replay.c) under the sanitizers, without libFuzzer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"

#define FUZZ_MAX_HEADERS 64

static void fuzz_check(int ok)
{
    if (!ok)
        abort(); /* a round trip gave back something else */
}

/* The event a valid command would make, encoded and decoded back. */
static void fuzz_event(const struct pw_cmd *cmd)
{
    if (!cmd->post_id || strlen(cmd->post_id) > PW_POST_ID_MAX)
        return;
    struct pw_post post = {0};
    strcpy(post.post_id, cmd->post_id);
    post.author_name = strdup(cmd->author_name ? cmd->author_name : "a");
    post.title = strdup(cmd->title ? cmd->title : "t");
    post.body = strdup(cmd->body ? cmd->body : "b");
    post.version = cmd->expected_version > 0 ? cmd->expected_version : 1;
    post.created_at = post.updated_at = cmd->env.time;
    post.deleted_at = PW_TIME_NONE;
    struct pw_event ev;
    pw_event_init(&ev, PW_EVENT_POST_UPDATED, 0, &cmd->env, &post);
    strcpy(ev.id, "00000000-0000-5000-8000-000000000000");
    if (cmd->env.traceparent[0]) {
        fuzz_check(pw_trace_parent_ok(cmd->env.traceparent, strlen(cmd->env.traceparent)));
        pw_trace_child(cmd->env.traceparent, ev.id, ev.traceparent);
        fuzz_check(pw_trace_parent_ok(ev.traceparent, strlen(ev.traceparent)));
    }
    char *json = NULL;
    size_t len;
    if (pw_ce_encode_event(&ev, &json, &len, NULL) == PW_OK) {
        struct pw_event back;
        fuzz_check(pw_ce_decode_event(json, len, &back, NULL) == PW_OK);
        fuzz_check(strcmp(back.post.title, ev.post.title) == 0);
        fuzz_check(strcmp(back.post.body, ev.post.body) == 0);
        fuzz_check(back.time == ev.time && back.post.version == ev.post.version);
        fuzz_check(strcmp(back.causation_id, ev.causation_id) == 0);
        fuzz_check(strcmp(back.traceparent, ev.traceparent) == 0);
        fuzz_check(!ev.traceparent[0] || strcmp(back.tracestate, ev.tracestate) == 0);
        pw_event_release(&back);
    }
    free(json);
    pw_event_release(&ev);
}

static bool fuzz_same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* The message decoded by jansson alone gives what the normal decode gave. */
static void fuzz_same_as_jansson(const struct pw_ce_message *msg, enum pw_err rc,
                                 const struct pw_cmd *cmd, const struct pw_errbuf *err)
{
    struct pw_cmd slow;
    struct pw_errbuf serr;
    enum pw_err src = pw_ce_decode_cmd_with(msg, false, &slow, &serr);
    fuzz_check(src == rc);
    if (rc) {
        fuzz_check(serr.code == err->code && strcmp(serr.msg, err->msg) == 0);
        return;
    }
    fuzz_check(slow.type == cmd->type && slow.env.time == cmd->env.time);
    fuzz_check(memcmp(&slow.env, &cmd->env, sizeof slow.env) == 0);
    fuzz_check(fuzz_same_str(slow.post_id, cmd->post_id));
    fuzz_check(fuzz_same_str(slow.author_name, cmd->author_name));
    fuzz_check(fuzz_same_str(slow.title, cmd->title));
    fuzz_check(fuzz_same_str(slow.body, cmd->body));
    fuzz_check(fuzz_same_str(slow.type_error, cmd->type_error));
    fuzz_check(slow.expected_version == cmd->expected_version);
    pw_cmd_release(&slow);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    data++, size--;
    pw_time ts = PW_TIME_NONE;
    if ((flags & 2) && size >= 8) {
        uint64_t v = 0;
        for (int i = 0; i < 8; i++)
            v = v << 8 | data[i];
        ts = (pw_time)v; /* any value, as a producer may send */
        data += 8, size -= 8;
    }
    /* Own copies, NUL-terminated where the codec expects names. */
    char *buf = malloc(size + 1);
    memcpy(buf, data, size);
    buf[size] = '\0';
    struct pw_header hs[FUZZ_MAX_HEADERS];
    size_t nh = 0, vlen = size;
    char *sep = memchr(buf, 0xff, size);
    if (sep && (flags & 1)) {
        vlen = (size_t)(sep - buf);
        char *p = sep + 1, *end = buf + size;
        while (p < end && nh < FUZZ_MAX_HEADERS) {
            char *next = memchr(p, 0xff, (size_t)(end - p));
            char *stop = next ? next : end;
            *stop = '\0';
            char *eq = memchr(p, '=', (size_t)(stop - p));
            if (eq) {
                *eq = '\0';
                hs[nh++] = (struct pw_header){p, eq + 1, (size_t)(stop - eq - 1)};
            }
            p = stop + 1;
        }
    }
    struct pw_ce_message msg = {.value = buf, .len = vlen, .headers = hs, .nheaders = nh,
                                .timestamp = ts};
    struct pw_cmd cmd;
    struct pw_errbuf err;
    enum pw_err rc = pw_ce_decode_cmd(&msg, &cmd, &err);
    fuzz_same_as_jansson(&msg, rc, &cmd, &err);
    if (rc == PW_OK) {
        fuzz_check(pw_time_in_range(cmd.env.time));
        bool valid = pw_cmd_validate(&cmd, &err) == PW_OK;
        char *json = NULL;
        size_t len;
        if (valid && pw_ce_encode_cmd(&cmd, &json, &len, NULL) == PW_OK) {
            struct pw_ce_message again = {.value = json, .len = len, .timestamp = PW_TIME_NONE};
            struct pw_cmd back;
            fuzz_check(pw_ce_decode_cmd(&again, &back, &err) == PW_OK);
            fuzz_check(back.type == cmd.type && strcmp(back.env.id, cmd.env.id) == 0);
            fuzz_check(strcmp(back.env.source, cmd.env.source) == 0);
            fuzz_check(back.env.time == cmd.env.time);
            pw_cmd_release(&back);
            fuzz_event(&cmd);
        }
        free(json);
        pw_cmd_release(&cmd);
    } else {
        fuzz_check(pw_err_is_dead_letter(err.code));
    }
    free(buf);
    return 0;
}
