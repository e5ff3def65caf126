/*
 * postctl's Kafka: a producer that waits for acknowledgements, and a reader
 * that assigns every partition of a topic itself (no consumer group), so
 * that tailing never moves the worker's offsets.
 */
#include "adapters/kafka/client_kafka.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/conf.h"
#include "adapters/kafka/span_kafka.h"
#include "domain/time.h"

struct pw_kafka_client {
    struct kafka_logctx log; /* first: the log callback finds it here */
    const struct pw_kafka_settings *s;
    rd_kafka_t *rk;
    size_t failed;
    rd_kafka_resp_err_t first_err;
    char first_topic[256];
};

static void client_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct pw_kafka_client *c = opaque;
    if (msg->err && c->failed++ == 0) {
        c->first_err = msg->err;
        snprintf(c->first_topic, sizeof c->first_topic, "%s", rd_kafka_topic_name(msg->rkt));
    }
}

enum pw_err pw_kafka_client_new(struct pw_kafka_client **out, const struct pw_kafka_settings *s,
                                struct pw_errbuf *err)
{
    static const char *const defaults[] = {"message.timeout.ms", "10000", NULL};
    struct pw_kafka_client *c = calloc(1, sizeof *c);
    if (!c)
        return pw_err_set(err, PW_E_NOMEM, "out of memory");
    c->log = (struct kafka_logctx){s, "producer"};
    c->s = s;
    c->rk = kafka_producer_new(s, defaults, c, client_dr, err);
    if (!c->rk) {
        free(c);
        return err->code;
    }
    *out = c;
    return PW_OK;
}

enum pw_err pw_kafka_client_produce(struct pw_kafka_client *c, const char *topic, const char *key,
                                    const void *value, size_t len, const char *const *headers,
                                    struct pw_errbuf *err)
{
    rd_kafka_headers_t *hdrs = rd_kafka_headers_new(4);
    for (const char *const *h = headers; h && *h; h++) {
        const char *eq = strchr(*h, '=');
        if (eq)
            rd_kafka_header_add(hdrs, *h, eq - *h, eq + 1, -1);
    }
    for (;;) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            c->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, key ? strlen(key) : 0),
            RD_KAFKA_V_VALUE((void *)value, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_END);
        if (!e)
            return PW_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            rd_kafka_headers_destroy(hdrs);
            return pw_err_set(err, kafka_err(e), "cannot send to '%s': %s", topic,
                              rd_kafka_err2str(e));
        }
        rd_kafka_poll(c->rk, 100);
    }
}

size_t pw_kafka_client_flush(struct pw_kafka_client *c, struct pw_errbuf *err)
{
    while (rd_kafka_outq_len(c->rk) > 0)
        rd_kafka_flush(c->rk, 100);
    size_t failed = c->failed;
    if (failed)
        pw_err_set(err, kafka_err(c->first_err), "%zu not delivered to '%s' at %s: %s", failed,
                   c->first_topic, c->s->brokers, rd_kafka_err2str(c->first_err));
    c->failed = 0;
    return failed;
}

void pw_kafka_client_free(struct pw_kafka_client *c)
{
    if (!c)
        return;
    rd_kafka_destroy(c->rk);
    free(c);
}

bool pw_kafka_reachable(const char *brokers, int timeout_ms)
{
    struct pw_kafka_settings s = {.brokers = brokers};
    struct kafka_logctx quiet = {&s, "probe"}; /* s.log is NULL: librdkafka's lines go nowhere */
    struct pw_errbuf err;
    rd_kafka_conf_t *conf = kafka_conf_new(&s, RD_KAFKA_PRODUCER, NULL, &quiet, &err);
    if (!conf)
        return false;
    char errstr[256];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        return false;
    }
    const struct rd_kafka_metadata *md = NULL;
    bool up = rd_kafka_metadata(rk, 0, NULL, &md, timeout_ms) == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_destroy(rk);
    return up;
}

/* The message as a JSON object: position, key, headers, value (as text). */
static json_t *client_envelope(const rd_kafka_message_t *m)
{
    json_t *o = json_object(), *hs = json_object();
    json_object_set_new(o, "topic", json_string(rd_kafka_topic_name(m->rkt)));
    json_object_set_new(o, "partition", json_integer(m->partition));
    json_object_set_new(o, "offset", json_integer(m->offset));
    rd_kafka_timestamp_type_t tstype;
    int64_t ts = rd_kafka_message_timestamp(m, &tstype);
    char buf[PW_TIME_STRLEN];
    if (ts >= 0)
        json_object_set_new(o, "timestamp", json_string(pw_time_format(ts * 1000, buf)));
    /* json_stringn refuses bytes that are not UTF-8: such a key or header is null, still there. */
    json_t *key = m->key ? json_stringn(m->key, m->key_len) : NULL;
    json_object_set_new(o, "key", key ? key : json_null());
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR) {
        const char *name;
        const void *val;
        size_t size;
        for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++) {
            json_t *hv = val ? json_stringn(val, size) : NULL;
            json_object_set_new(hs, name, hv ? hv : json_null());
        }
    }
    json_object_set_new(o, "headers", hs);
    json_t *v = m->payload ? json_stringn(m->payload, m->len) : NULL;
    json_object_set_new(o, "value", v ? v : json_null());
    return o;
}

static void client_print(const rd_kafka_message_t *m, enum pw_tail_format fmt, FILE *out)
{
    if (fmt == PW_TAIL_VALUE && m->payload) {
        json_t *v = json_loadb(m->payload, m->len, 0, NULL);
        if (v) {
            json_dumpf(v, out, JSON_COMPACT);
            fputc('\n', out);
            json_decref(v);
            return;
        }
    }
    json_t *o = client_envelope(m);
    json_dumpf(o, out, JSON_COMPACT);
    fputc('\n', out);
    json_decref(o);
}

struct client_tail_arg {
    enum pw_tail_format fmt;
    FILE *out;
};

static bool client_tail_one(const rd_kafka_message_t *m, void *arg)
{
    struct client_tail_arg *t = arg;
    client_print(m, t->fmt, t->out);
    fflush(t->out);
    return true;
}

enum pw_err pw_kafka_tail(const struct pw_kafka_settings *s, const char *topic,
                          bool from_beginning, bool until_end, enum pw_tail_format fmt,
                          volatile sig_atomic_t *stop, FILE *out, struct pw_errbuf *err)
{
    struct kafka_reader r;
    struct client_tail_arg t = {fmt, out};
    enum pw_err rc = kafka_reader_open(&r, s, topic, from_beginning ? PW_START_BEGINNING : PW_START_END, 0,
                                       0, err);
    if (!rc)
        rc = kafka_reader_run(&r, until_end, stop, client_tail_one, &t, err);
    kafka_reader_close(&r);
    return rc;
}

struct client_get_arg {
    const char *post_id;
    json_t *latest; /* data of the newest event of the post so far */
};

static bool client_get_one(const rd_kafka_message_t *m, void *arg)
{
    struct client_get_arg *g = arg;
    size_t n = strlen(g->post_id);
    if (!m->key || m->key_len != n || memcmp(m->key, g->post_id, n) != 0)
        return true;
    json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
    json_t *data = json_object_get(ev, "data");
    json_t *version = json_object_get(data, "version");
    json_t *prev = json_object_get(g->latest, "version");
    /* At-least-once delivery may repeat an event: the highest version wins. */
    if (json_is_integer(version) &&
        (!prev || json_integer_value(version) >= json_integer_value(prev))) {
        json_decref(g->latest);
        g->latest = json_incref(data);
    }
    json_decref(ev);
    return true;
}

enum pw_err pw_kafka_get_post(const struct pw_kafka_settings *s, const char *post_id, char **json,
                              struct pw_errbuf *err)
{
    struct kafka_reader r;
    struct client_get_arg g = {post_id, NULL};
    enum pw_err rc = kafka_reader_open(&r, s, s->events_topic, PW_START_BEGINNING, 0, 0, err);
    if (!rc)
        rc = kafka_reader_run(&r, true, NULL, client_get_one, &g, err);
    kafka_reader_close(&r);
    if (!rc && !g.latest)
        rc = pw_err_set(err, PW_E_NOT_FOUND, "post '%s' has no events in '%s'", post_id,
                        s->events_topic);
    if (!rc) {
        *json = json_dumps(g.latest, JSON_INDENT(2));
        if (!*json)
            rc = pw_err_set(err, PW_E_NOMEM, "out of memory");
    }
    json_decref(g.latest);
    return rc;
}

struct client_read_arg {
    pw_kafka_record_fn fn;
    void *arg;
};

static bool client_read_one(const rd_kafka_message_t *m, void *arg)
{
    struct client_read_arg *r = arg;
    rd_kafka_timestamp_type_t tstype;
    struct pw_kafka_record rec = {
        .key = m->key,
        .key_len = m->key_len,
        .value = m->payload,
        .len = m->len,
        .partition = m->partition,
        .offset = m->offset,
        .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
    };
    r->fn(&rec, r->arg);
    return true;
}

enum pw_err pw_kafka_read(const struct pw_kafka_settings *s, const char *topic,
                          bool from_beginning, bool until_end, volatile sig_atomic_t *stop,
                          pw_kafka_record_fn fn, void *arg, struct pw_errbuf *err)
{
    struct kafka_reader r;
    struct client_read_arg ra = {fn, arg};
    enum pw_err rc = kafka_reader_open(&r, s, topic, from_beginning ? PW_START_BEGINNING : PW_START_END, 0,
                                       0, err);
    if (!rc)
        rc = kafka_reader_run(&r, until_end, stop, client_read_one, &ra, err);
    kafka_reader_close(&r);
    return rc;
}

struct pw_kafka_watch {
    struct kafka_reader events, dlq;
};

enum pw_err pw_kafka_watch_open(struct pw_kafka_watch **out, const struct pw_kafka_settings *s,
                                struct pw_errbuf *err)
{
    struct pw_kafka_watch *w = calloc(1, sizeof *w);
    if (!w)
        return pw_err_set(err, PW_E_NOMEM, "out of memory");
    enum pw_err rc = kafka_reader_open(&w->events, s, s->events_topic, PW_START_END, 0, 0, err);
    if (!rc)
        rc = kafka_reader_open(&w->dlq, s, s->dlq_topic, PW_START_END, 0, 0, err);
    if (rc) {
        pw_kafka_watch_free(w);
        return rc;
    }
    *out = w;
    return PW_OK;
}

void pw_kafka_watch_free(struct pw_kafka_watch *w)
{
    if (!w)
        return;
    kafka_reader_close(&w->events);
    kafka_reader_close(&w->dlq);
    free(w);
}

/* The last value of header name of m, cut to fit buf; "" if absent. */
static const char *watch_header(const rd_kafka_message_t *m, const char *name, char *buf,
                                size_t size)
{
    rd_kafka_headers_t *hs;
    const void *val;
    size_t len;
    buf[0] = '\0';
    if (rd_kafka_message_headers(m, &hs) || rd_kafka_header_get_last(hs, name, &val, &len) || !val)
        return buf;
    snprintf(buf, size, "%.*s", (int)(len < size ? len : size - 1), (const char *)val);
    return buf;
}

/* 1: m is the event of (source, id), line set; 0: not it. */
static int watch_event(const rd_kafka_message_t *m, const char *id, char *line, size_t size)
{
    json_t *ev = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    const char *cause = json_string_value(json_object_get(ev, "causationid"));
    int found = cause && strcmp(cause, id) == 0;
    if (found) {
        json_t *data = json_object_get(ev, "data");
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *post = json_string_value(json_object_get(data, "post_id"));
        snprintf(line, size, "applied: %s '%s' version %lld", type ? type : "?",
                 post ? post : "?",
                 (long long)json_integer_value(json_object_get(data, "version")));
    }
    json_decref(ev);
    return found;
}

/* 1: m is the dead letter of (source, id), line set; 0: not it. */
static int watch_dead(const rd_kafka_message_t *m, const char *source, const char *id, char *line,
                      size_t size)
{
    json_t *cmd = m->payload ? json_loadb(m->payload, m->len, 0, NULL) : NULL;
    const char *i = json_string_value(json_object_get(cmd, "id"));
    const char *src = json_string_value(json_object_get(cmd, "source"));
    int found = i && src && strcmp(i, id) == 0 && strcmp(src, source) == 0;
    json_decref(cmd);
    if (found) {
        char kind[32], code[64], msg[256];
        snprintf(line, size, "%s: %s: %s", watch_header(m, "dlq.error.kind", kind, sizeof kind),
                 watch_header(m, "dlq.error.code", code, sizeof code),
                 watch_header(m, "dlq.error.message", msg, sizeof msg));
    }
    return found;
}

enum pw_err pw_kafka_watch_await(struct pw_kafka_watch *w, const char *source, const char *id,
                                 int timeout_ms, volatile sig_atomic_t *stop, char *line,
                                 size_t size)
{
    long long deadline = kafka_now_ms() + timeout_ms;
    while (kafka_now_ms() < deadline && !(stop && *stop)) {
        struct kafka_reader *rs[] = {&w->events, &w->dlq};
        for (int r = 0; r < 2; r++) {
            rd_kafka_message_t *m = rd_kafka_consumer_poll(rs[r]->rk, 50);
            if (!m)
                continue;
            int found = 0;
            if (!m->err)
                found = r == 0 ? watch_event(m, id, line, size)
                               : watch_dead(m, source, id, line, size);
            rd_kafka_message_destroy(m);
            if (found)
                return r == 0 ? PW_OK : PW_E_NOT_FOUND;
        }
    }
    snprintf(line, size, "no event or dead letter within %d s: is the worker running? (a command "
                         "processed before publishes nothing again, and one held behind its "
                         "post's failed command waits: postworker parked lists them)",
             timeout_ms / 1000);
    return PW_E_TRANSIENT;
}
