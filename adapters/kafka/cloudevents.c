/*
 * CloudEvents 1.0 over JSON, commands in: read by the fast reader
 * (json_in.c) or jansson; events go out in ce_out.c. Decoding checks the
 * envelope in a fixed order (specversion, id, source, type, time, correlationid, content
 * type, then type support, then data) so that the same bad message always
 * gives the same error. The decoded command's data strings are copied into
 * one allocation, cmd->mem, so that a command costs one malloc beyond the
 * parse.
 */
#include "adapters/kafka/cloudevents.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/ce_json.h"
#include "adapters/kafka/json_in.h"
#include "domain/text.h"

/* One attribute's text as found in a JSON member or a ce_ header. */
struct ce_str {
    const char *p;
    size_t len;
    bool present;
};

/*
 * A JSON object as read by either reader: a jansson object, or an object
 * of the fast reader (json_in.h), the outer one when index is -1.
 */
struct ce_obj {
    json_t *json;
    const struct pw_json_flat *flat;
    int index;
};

/* What a member of a ce_obj is, as far as decoding cares. */
enum ce_kind { CE_ABSENT, CE_STRING, CE_INTEGER, CE_OBJECT, CE_OTHER };

struct ce_member {
    enum ce_kind kind;
    const char *p; /* CE_STRING: NUL-terminated */
    size_t len;
    long long num; /* CE_INTEGER */
    struct ce_obj obj; /* CE_OBJECT */
};

static bool ce_obj_present(const struct ce_obj *o)
{
    return o->json || o->flat;
}

/* The member name of o; a JSON null is CE_ABSENT, as a missing member is. */
static struct ce_member ce_member(const struct ce_obj *o, const char *name)
{
    struct ce_member m = {.kind = CE_ABSENT};
    if (o->flat) {
        const struct pw_json_member *f = pw_json_flat_get(o->flat, o->index, name);
        if (!f || f->kind == PW_JSON_NULL)
            return m;
        if (f->kind == PW_JSON_STRING)
            return (struct ce_member){.kind = CE_STRING, .p = f->str, .len = f->len};
        if (f->kind == PW_JSON_INTEGER)
            return (struct ce_member){.kind = CE_INTEGER, .num = f->num};
        return (struct ce_member){.kind = CE_OBJECT, .obj = {NULL, o->flat, (int)(f - o->flat->m)}};
    }
    json_t *v = o->json ? json_object_get(o->json, name) : NULL;
    if (!v || json_is_null(v))
        return m;
    if (json_is_string(v))
        return (struct ce_member){.kind = CE_STRING, .p = json_string_value(v),
                                  .len = json_string_length(v)};
    if (json_is_integer(v))
        return (struct ce_member){.kind = CE_INTEGER, .num = json_integer_value(v)};
    if (json_is_object(v))
        return (struct ce_member){.kind = CE_OBJECT, .obj = {v, NULL, -1}};
    return (struct ce_member){.kind = CE_OTHER};
}

/* Where the envelope comes from: a JSON object or the message headers. */
struct ce_in {
    struct ce_obj root;              /* structured mode */
    const struct pw_ce_message *msg; /* binary mode when root is not present */
};

static const struct pw_header *ce_header(const struct pw_ce_message *msg, const char *name)
{
    for (size_t i = 0; i < msg->nheaders; i++)
        if (strcmp(msg->headers[i].name, name) == 0)
            return &msg->headers[i];
    return NULL;
}

static enum pw_err ce_attr(const struct ce_in *in, const char *name, struct ce_str *out,
                           struct pw_errbuf *err)
{
    memset(out, 0, sizeof *out);
    if (ce_obj_present(&in->root)) {
        struct ce_member v = ce_member(&in->root, name);
        if (v.kind == CE_ABSENT)
            return PW_OK;
        if (v.kind != CE_STRING)
            return pw_err_set(err, PW_E_INVALID_ATTRIBUTE, "attribute '%s' must be a string", name);
        out->p = v.p;
        out->len = v.len;
        out->present = true;
        return PW_OK;
    }
    char hname[64];
    snprintf(hname, sizeof hname, "ce_%s", name);
    const struct pw_header *h = ce_header(in->msg, hname);
    if (!h)
        return PW_OK;
    out->p = h->value ? h->value : "";
    out->len = h->value ? h->len : 0;
    out->present = true;
    /* Headers are raw bytes; JSON strings were already checked by the parser. */
    if (pw_text_codepoints(out->p, out->len) < 0)
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                          "header '%s' is not UTF-8 text without NUL", hname);
    return PW_OK;
}

/* A string attribute of min..max code points; min 0 makes it optional. */
static enum pw_err ce_text_attr(const struct ce_in *in, const char *name, long min, long max,
                                struct ce_str *out, struct pw_errbuf *err)
{
    enum pw_err rc = ce_attr(in, name, out, err);
    if (rc)
        return rc;
    if (!out->present) {
        if (min > 0)
            return pw_err_set(err, PW_E_MISSING_ATTRIBUTE, "attribute '%s' is required", name);
        return PW_OK;
    }
    long n = pw_text_codepoints(out->p, out->len);
    if (n < 0)
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                          "attribute '%s' is not UTF-8 text without NUL", name);
    if (n < (min ? min : 0) || n > max)
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                          "attribute '%s' must be %ld to %ld characters, not %ld", name,
                          min ? min : 0, max, n);
    return PW_OK;
}

static void ce_copy(char *dst, const struct ce_str *s)
{
    memcpy(dst, s->p, s->len);
    dst[s->len] = '\0';
}

/* The most numbers out of range a message may hold and still be read; past it, invalid_json. */
#define CE_MAX_OVERFLOWS 8

/*
 * Overwrites the number that ends at end (out of range for jansson) with a
 * string of the same length, so that the rest of the message still parses
 * and the field, now of the wrong type, fails validation like any other
 * wrong value. false if the token cannot be found.
 */
static bool ce_defuse_number(char *buf, size_t end)
{
    size_t start = end;
    while (start > 0 && strchr("0123456789+-.eE", buf[start - 1]))
        start--;
    if (end - start < 2)
        return false;
    memset(buf + start, 'x', end - start);
    buf[start] = buf[end - 1] = '"';
    return true;
}

enum pw_err kafka_ce_parse(const void *buf, size_t len, json_t **out, struct pw_errbuf *err)
{
    json_error_t jerr;
    char *copy = NULL;
    json_t *root = NULL;
    for (int overflows = 0;; overflows++) {
        /* Duplicate keys would let two readers of one message see two commands. */
        root = json_loadb(copy ? copy : buf, len, JSON_REJECT_DUPLICATES, &jerr);
        if (root || json_error_code(&jerr) != json_error_numeric_overflow ||
            overflows == CE_MAX_OVERFLOWS)
            break;
        if (!copy) {
            if (!(copy = malloc(len)))
                return pw_err_set(err, PW_E_NOMEM, "out of memory reading a message");
            memcpy(copy, buf, len);
        }
        if (jerr.position < 0 || (size_t)jerr.position > len ||
            !ce_defuse_number(copy, (size_t)jerr.position))
            break;
    }
    free(copy);
    if (!root)
        return pw_err_set(err, PW_E_INVALID_JSON, "invalid JSON at line %d column %d: %s",
                          jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return pw_err_set(err, PW_E_INVALID_JSON, "expected a JSON object");
    }
    *out = root;
    return PW_OK;
}

/* The envelope: every attribute of the contract, checked, into cmd->env and *type. */
static enum pw_err ce_envelope(const struct ce_in *in, pw_time fallback, struct pw_cmd *cmd,
                               struct pw_errbuf *err)
{
    struct ce_str spec, id, source, type, time, corr, dct;
    enum pw_err rc;
    if ((rc = ce_attr(in, "specversion", &spec, err)))
        return rc;
    if (!spec.present)
        return pw_err_set(err, PW_E_MISSING_ATTRIBUTE, "attribute 'specversion' is required");
    if (spec.len != 3 || memcmp(spec.p, "1.0", 3) != 0)
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE, "specversion must be \"1.0\"");
    if ((rc = ce_text_attr(in, "id", 1, PW_CMD_ID_MAX, &id, err)) ||
        (rc = ce_text_attr(in, "source", 1, PW_CMD_SOURCE_MAX, &source, err)) ||
        (rc = ce_text_attr(in, "type", 1, 256, &type, err)) ||
        (rc = ce_attr(in, "time", &time, err)) ||
        (rc = ce_text_attr(in, "correlationid", 0, PW_CMD_CORRELATION_MAX, &corr, err)))
        return rc;
    if (ce_obj_present(&in->root) && (rc = ce_attr(in, "datacontenttype", &dct, err)))
        return rc;
    if (ce_obj_present(&in->root) && dct.present) {
        /* application/json, with or without parameters such as charset. */
        size_t n = strlen("application/json");
        if (dct.len < n || memcmp(dct.p, "application/json", n) != 0 ||
            (dct.len > n && dct.p[n] != ';' && dct.p[n] != ' '))
            return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                              "datacontenttype must be application/json");
    }
    pw_time at = fallback;
    if (time.present && !pw_time_parse(time.p, time.len, &at))
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                          "attribute 'time' is not an RFC 3339 time in years 0001 to 9999 UTC");
    if (at != PW_TIME_NONE && !pw_time_in_range(at))
        return pw_err_set(err, PW_E_INVALID_ATTRIBUTE,
                          "the message's timestamp is outside years 0001 to 9999: give the "
                          "command a 'time'");
    if (at == PW_TIME_NONE)
        return pw_err_set(err, PW_E_MISSING_ATTRIBUTE,
                          "attribute 'time' is required when the message has no timestamp");
    if (!pw_cmd_type_from_name(type.p, type.len, &cmd->type))
        return pw_err_set(err, PW_E_UNKNOWN_TYPE, "unknown command type '%.*s'",
                          (int)(type.len > 64 ? 64 : type.len), type.p);
    ce_copy(cmd->env.source, &source);
    ce_copy(cmd->env.id, &id);
    if (corr.present)
        ce_copy(cmd->env.correlation_id, &corr);
    cmd->env.time = at;
    return PW_OK;
}

/*
 * The W3C trace context: the message headers traceparent and tracestate,
 * else the CloudEvents distributed-tracing attributes of the same names. A
 * context that is not valid is not continued, as the W3C asks; it never
 * makes a command malformed.
 */
static void ce_trace(const struct ce_in *in, struct pw_envelope *env)
{
    struct ce_str tp = {0}, ts = {0};
    struct pw_errbuf ignored;
    const struct pw_header *h = ce_header(in->msg, "traceparent");
    if (h && h->value) {
        tp = (struct ce_str){h->value, h->len, true};
        const struct pw_header *s = ce_header(in->msg, "tracestate");
        if (s && s->value)
            ts = (struct ce_str){s->value, s->len, true};
    } else if (!ce_attr(in, "traceparent", &tp, &ignored) && tp.present &&
               ce_attr(in, "tracestate", &ts, &ignored)) {
        ts.present = false;
    }
    if (!tp.present || !pw_trace_parent_ok(tp.p, tp.len))
        return;
    ce_copy(env->traceparent, &tp);
    if (ts.present && pw_trace_state_ok(ts.p, ts.len))
        ce_copy(env->tracestate, &ts);
}

const char *const kafka_ce_fields[KAFKA_CE_NFIELDS] = {"post_id", "author_name", "title", "body"};

/* The data object's fields into cmd; strings are copied into one block, cmd->mem. */
static enum pw_err ce_data(const struct ce_obj *data, struct pw_cmd *cmd, struct pw_errbuf *err)
{
    struct ce_member vals[KAFKA_CE_NFIELDS];
    size_t total = 0;
    for (size_t i = 0; i < KAFKA_CE_NFIELDS; i++) {
        vals[i] = ce_member(data, kafka_ce_fields[i]);
        if (vals[i].kind != CE_ABSENT && vals[i].kind != CE_STRING) {
            if (!cmd->type_error)
                cmd->type_error = kafka_ce_fields[i];
            vals[i].kind = CE_ABSENT;
        }
        if (vals[i].kind == CE_STRING)
            total += vals[i].len + 1;
    }
    struct ce_member ev = ce_member(data, "expected_version");
    if (ev.kind == CE_INTEGER) {
        long long v = ev.num;
        /* 0 means absent in pw_cmd, so an explicit out-of-range value becomes one that fails. */
        cmd->expected_version = v < 1 ? -1 : v > PW_VERSION_MAX ? (int64_t)PW_VERSION_MAX + 1 : v;
    } else if (ev.kind != CE_ABSENT && !cmd->type_error) {
        cmd->type_error = "expected_version";
    }

    char *mem = total ? malloc(total) : NULL;
    if (total && !mem)
        return pw_err_set(err, PW_E_NOMEM, "out of memory decoding a command");
    const char **dst[KAFKA_CE_NFIELDS] = {&cmd->post_id, &cmd->author_name, &cmd->title, &cmd->body};
    char *p = mem;
    for (size_t i = 0; i < KAFKA_CE_NFIELDS; i++) {
        if (vals[i].kind != CE_STRING)
            continue;
        memcpy(p, vals[i].p, vals[i].len + 1);
        *dst[i] = p;
        p += vals[i].len + 1;
    }
    cmd->mem = mem;
    return PW_OK;
}

/*
 * Reads a JSON object: with the fast reader when the message has its shape
 * and fast is set, else with jansson (kafka_ce_parse), which gives every error.
 */
static enum pw_err ce_read(const void *buf, size_t len, bool fast, struct pw_json_flat *flat,
                           struct ce_obj *out, struct pw_errbuf *err)
{
    if (fast && pw_json_flat_read(buf, len, flat)) {
        *out = (struct ce_obj){NULL, flat, -1};
        return PW_OK;
    }
    *out = (struct ce_obj){NULL, NULL, -1};
    return kafka_ce_parse(buf, len, &out->json, err);
}

static int ce_name_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * Binary mode: a ce_ header given twice is refused, as duplicate JSON keys
 * are, since two readers could take two different commands from it. Sorted,
 * so that a message with thousands of headers costs n log n, not n squared.
 */
static enum pw_err ce_no_repeats(const struct pw_ce_message *msg, struct pw_errbuf *err)
{
    size_t n = 0;
    for (size_t i = 0; i < msg->nheaders; i++)
        n += strncmp(msg->headers[i].name, "ce_", 3) == 0;
    if (n < 2)
        return PW_OK;
    const char **names = malloc(n * sizeof *names);
    if (!names)
        return pw_err_set(err, PW_E_NOMEM, "out of memory reading %zu ce_ headers", n);
    n = 0;
    for (size_t i = 0; i < msg->nheaders; i++)
        if (strncmp(msg->headers[i].name, "ce_", 3) == 0)
            names[n++] = msg->headers[i].name;
    qsort(names, n, sizeof *names, ce_name_cmp);
    enum pw_err rc = PW_OK;
    for (size_t i = 1; i < n && !rc; i++)
        if (strcmp(names[i - 1], names[i]) == 0)
            rc = pw_err_set(err, PW_E_INVALID_ATTRIBUTE, "header '%.64s' appears twice", names[i]);
    free(names);
    return rc;
}

enum pw_err pw_ce_decode_cmd_with(const struct pw_ce_message *msg, bool fast, struct pw_cmd *cmd,
                                  struct pw_errbuf *err)
{
    struct ce_obj root = {NULL, NULL, -1}, data = root;
    struct pw_json_flat flat = {.n = 0};
    enum pw_err rc;
    memset(cmd, 0, sizeof *cmd);
    if (msg->len > PW_CE_MAX_MESSAGE) {
        rc = pw_err_set(err, PW_E_TOO_LARGE, "message of %zu bytes is over the %d byte limit",
                        msg->len, PW_CE_MAX_MESSAGE);
        goto out;
    }
    bool binary = ce_header(msg, "ce_specversion") != NULL;
    if (binary && (rc = ce_no_repeats(msg, err)))
        goto out;
    if (!binary && (rc = ce_read(msg->value, msg->len, fast, &flat, &root, err)))
        goto out;
    struct ce_in in = {.root = root, .msg = msg};
    if ((rc = ce_envelope(&in, msg->timestamp, cmd, err)))
        goto out;
    ce_trace(&in, &cmd->env);

    if (binary) {
        if (msg->len == 0) {
            rc = pw_err_set(err, PW_E_MISSING_ATTRIBUTE, "binary-mode message has no data");
            goto out;
        }
        if ((rc = ce_read(msg->value, msg->len, fast, &flat, &root, err)))
            goto out;
        data = root;
    } else {
        struct ce_member d = ce_member(&root, "data");
        if (d.kind == CE_ABSENT) {
            rc = pw_err_set(err, PW_E_MISSING_ATTRIBUTE, "attribute 'data' is required");
            goto out;
        }
        if (d.kind != CE_OBJECT) {
            rc = pw_err_set(err, PW_E_INVALID_ATTRIBUTE, "attribute 'data' must be a JSON object");
            goto out;
        }
        data = d.obj;
    }
    rc = ce_data(&data, cmd, err);
out:
    json_decref(root.json);
    pw_json_flat_release(&flat);
    if (rc)
        pw_cmd_release(cmd);
    return rc;
}

enum pw_err pw_ce_decode_cmd(const struct pw_ce_message *msg, struct pw_cmd *cmd,
                             struct pw_errbuf *err)
{
    return pw_ce_decode_cmd_with(msg, true, cmd, err);
}
