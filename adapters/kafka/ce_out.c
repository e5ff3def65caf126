/*
 * CloudEvents 1.0 over JSON, events out and the client's side: events
 * written by json_out.c (the worker's hot path, where building a jansson
 * tree cost more than the rest of a command's work: docs/benchmark.md),
 * commands written for postctl, and events read back for postctl get.
 */
#include "adapters/kafka/cloudevents.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/ce_json.h"
#include "adapters/kafka/json_out.h"

#define PW_EVENT_SOURCE "/postworker"

static void ce_time(struct pw_json_out *w, const char *key, pw_time t)
{
    char buf[PW_TIME_STRLEN];
    pw_json_string(w, key, t == PW_TIME_NONE ? NULL : pw_time_format(t, buf));
}

static enum pw_err ce_finish(struct pw_json_out *w, char **out, size_t *len, const char *what,
                             struct pw_errbuf *err)
{
    if (!(*out = pw_json_finish(w, len)))
        return pw_err_set(err, PW_E_FATAL, "cannot encode %s: out of memory or invalid UTF-8",
                          what);
    return PW_OK;
}

/* The event, member by member in the contract's order, as jansson would write it. */
enum pw_err pw_ce_encode_event(const struct pw_event *ev, char **out, size_t *len,
                               struct pw_errbuf *err)
{
    const struct pw_post *post = &ev->post;
    struct pw_json_out w;
    pw_json_begin(&w, 512 + (post->body ? strlen(post->body) : 0));
    pw_json_string(&w, "specversion", "1.0");
    pw_json_string(&w, "id", ev->id);
    pw_json_string(&w, "source", PW_EVENT_SOURCE);
    pw_json_string(&w, "type", pw_event_type_name(ev->type));
    pw_json_string(&w, "subject", post->post_id);
    ce_time(&w, "time", ev->time);
    pw_json_string(&w, "datacontenttype", "application/json");
    pw_json_string(&w, "causationid", ev->causation_id);
    pw_json_string(&w, "correlationid", ev->correlation_id);
    if (ev->traceparent[0])
        pw_json_string(&w, "traceparent", ev->traceparent);
    if (ev->traceparent[0] && ev->tracestate[0])
        pw_json_string(&w, "tracestate", ev->tracestate);
    pw_json_object(&w, "data");
    pw_json_string(&w, "post_id", post->post_id);
    pw_json_string(&w, "author_name", post->author_name);
    pw_json_string(&w, "title", post->title);
    pw_json_string(&w, "body", post->body);
    pw_json_integer(&w, "version", post->version);
    ce_time(&w, "created_at", post->created_at);
    ce_time(&w, "updated_at", post->updated_at);
    ce_time(&w, "deleted_at", post->deleted_at);
    pw_json_end(&w);
    pw_json_end(&w);
    return ce_finish(&w, out, len, "an event", err);
}

enum pw_err pw_ce_encode_cmd(const struct pw_cmd *cmd, char **out, size_t *len,
                             struct pw_errbuf *err)
{
    struct pw_json_out w;
    pw_json_begin(&w, 512 + (cmd->body ? strlen(cmd->body) : 0));
    pw_json_string(&w, "specversion", "1.0");
    pw_json_string(&w, "id", cmd->env.id);
    pw_json_string(&w, "source", cmd->env.source);
    pw_json_string(&w, "type", pw_cmd_type_name(cmd->type));
    if (cmd->env.time != PW_TIME_NONE)
        ce_time(&w, "time", cmd->env.time);
    if (cmd->env.correlation_id[0])
        pw_json_string(&w, "correlationid", cmd->env.correlation_id);
    pw_json_string(&w, "datacontenttype", "application/json");
    pw_json_object(&w, "data");
    const char *vals[KAFKA_CE_NFIELDS] = {cmd->post_id, cmd->author_name, cmd->title, cmd->body};
    for (size_t i = 0; i < KAFKA_CE_NFIELDS; i++)
        if (vals[i])
            pw_json_string(&w, kafka_ce_fields[i], vals[i]);
    if (cmd->expected_version)
        pw_json_integer(&w, "expected_version", cmd->expected_version);
    pw_json_end(&w);
    pw_json_end(&w);
    return ce_finish(&w, out, len, "a command", err);
}

/* Reads a string member into a fixed buffer; false if missing, not a string, or too long. */
static bool ce_get_str(json_t *obj, const char *key, char *buf, size_t size)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v) || json_string_length(v) >= size)
        return false;
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return true;
}

static bool ce_get_time(json_t *obj, const char *key, bool nullable, pw_time *out)
{
    json_t *v = json_object_get(obj, key);
    if (nullable && json_is_null(v)) {
        *out = PW_TIME_NONE;
        return true;
    }
    return json_is_string(v) && pw_time_parse(json_string_value(v), json_string_length(v), out);
}

static char *ce_dup(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        return NULL;
    return strdup(json_string_value(v));
}

enum pw_err pw_ce_decode_event(const char *json, size_t len, struct pw_event *ev,
                               struct pw_errbuf *err)
{
    json_t *root = NULL;
    char type[32];
    memset(ev, 0, sizeof *ev);
    enum pw_err rc = kafka_ce_parse(json, len, &root, err);
    if (rc)
        return rc;
    json_t *data = json_object_get(root, "data");
    struct pw_post *post = &ev->post;
    bool ok = json_is_object(data) && ce_get_str(root, "type", type, sizeof type) &&
              pw_event_type_from_name(type, &ev->type) &&
              ce_get_str(root, "id", ev->id, sizeof ev->id) &&
              ce_get_str(root, "causationid", ev->causation_id, sizeof ev->causation_id) &&
              ce_get_str(root, "correlationid", ev->correlation_id, sizeof ev->correlation_id) &&
              ce_get_time(root, "time", false, &ev->time) &&
              ce_get_str(data, "post_id", post->post_id, sizeof post->post_id) &&
              json_is_integer(json_object_get(data, "version")) &&
              ce_get_time(data, "created_at", false, &post->created_at) &&
              ce_get_time(data, "updated_at", false, &post->updated_at) &&
              ce_get_time(data, "deleted_at", true, &post->deleted_at);
    if (ok) {
        /* Optional: the trace context it continues. */
        if (!ce_get_str(root, "traceparent", ev->traceparent, sizeof ev->traceparent))
            ev->traceparent[0] = '\0';
        if (!ce_get_str(root, "tracestate", ev->tracestate, sizeof ev->tracestate))
            ev->tracestate[0] = '\0';
        post->version = json_integer_value(json_object_get(data, "version"));
        post->author_name = ce_dup(data, "author_name");
        post->title = ce_dup(data, "title");
        post->body = ce_dup(data, "body");
        ok = post->author_name && post->title && post->body;
    }
    json_decref(root);
    if (!ok) {
        pw_event_release(ev);
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE, "not an event of the contract");
    }
    return PW_OK;
}

enum pw_err pw_ce_peek_post_id(const char *json, size_t len, char out[PW_POST_ID_MAX + 1],
                               struct pw_errbuf *err)
{
    json_t *root = NULL;
    enum pw_err rc = kafka_ce_parse(json, len, &root, err);
    if (rc)
        return rc;
    json_t *id = json_object_get(json_object_get(root, "data"), "post_id");
    if (!json_is_string(id) || json_string_length(id) < 1 || json_string_length(id) > PW_POST_ID_MAX)
        rc = pw_err_set(err, PW_E_MISSING_ATTRIBUTE, "no data.post_id of 1 to %d characters",
                        PW_POST_ID_MAX);
    else
        memcpy(out, json_string_value(id), json_string_length(id) + 1);
    json_decref(root);
    return rc;
}
