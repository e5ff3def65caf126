/*
 * Redrive (redrive_kafka.h): a reader on the dead-letter topic and an
 * idempotent producer to the commands topic, so that the dead letters of
 * one post go back in the order they were dead-lettered.
 */
#include "adapters/kafka/redrive_kafka.h"

#include <stdio.h>
#include <string.h>

#include "adapters/kafka/conf.h"
#include "adapters/kafka/span_kafka.h"
#include "ports/backoff.h"

#define REDRIVE_PROGRESS_MS 5000
#define REDRIVE_LIST_MAX 1000 /* dead letters a dry run lists one by one */

struct redrive {
    struct kafka_logctx log; /* first: the log callback finds it here */
    const struct pw_redrive_opts *o;
    struct pw_redrive_stats *st;
    rd_kafka_t *producer;
    rd_kafka_resp_err_t first_err;
    long long last_progress_ms;
    enum pw_err rc;
    struct pw_errbuf *err;
};

static void redrive_dr(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    (void)rk;
    struct redrive *r = opaque;
    if (msg->err && r->st->failed++ == 0)
        r->first_err = msg->err;
}

/* Header name's last value as a string in buf (cut to fit), or NULL if absent. */
static const char *redrive_header(rd_kafka_headers_t *hs, const char *name, char *buf,
                                  size_t size)
{
    const void *val;
    size_t len;
    if (!hs || rd_kafka_header_get_last(hs, name, &val, &len) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return NULL;
    if (!val)
        len = 0;
    if (len >= size)
        len = size - 1;
    memcpy(buf, val, len);
    buf[len] = '\0';
    return buf;
}

static bool redrive_in(const char *value, const char *const *set, size_t n)
{
    if (!n)
        return true;
    for (size_t i = 0; i < n; i++)
        if (strcmp(value, set[i]) == 0)
            return true;
    return false;
}

static void redrive_progress(struct redrive *r, bool force)
{
    long long now = kafka_now_ms();
    if (!force && now - r->last_progress_ms < REDRIVE_PROGRESS_MS)
        return;
    r->last_progress_ms = now;
    const struct pw_redrive_stats *st = r->st;
    kafka_log(r->o->settings, "info",
              "redrive: %llu read, %llu %s, %llu skipped", (unsigned long long)st->read,
              (unsigned long long)st->sent, r->o->dry_run ? "would be sent" : "sent",
              (unsigned long long)(st->skipped + st->dropped + st->foreign));
}

/* The dead letter m back to the commands topic, without its dlq.* headers. */
static enum pw_err redrive_send(struct redrive *r, const rd_kafka_message_t *m,
                                rd_kafka_headers_t *hs)
{
    const char *topic = r->o->settings->commands_topic;
    rd_kafka_headers_t *out = rd_kafka_headers_new(hs ? rd_kafka_header_cnt(hs) + 1 : 1);
    const char *name;
    const void *val;
    size_t len;
    for (size_t i = 0; hs && !rd_kafka_header_get_all(hs, i, &name, &val, &len); i++)
        if (strncmp(name, "dlq.", 4) != 0)
            rd_kafka_header_add(out, name, -1, val, val ? (ssize_t)len : -1);
    char from[48];
    snprintf(from, sizeof from, "%d/%lld", (int)m->partition, (long long)m->offset);
    rd_kafka_header_add(out, "dlq.redriven.from", -1, from, -1);
    for (unsigned attempt = 0;; attempt++) {
        rd_kafka_resp_err_t e = rd_kafka_producev(
            r->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(m->key, m->key_len),
            RD_KAFKA_V_VALUE(m->payload, m->len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(out), RD_KAFKA_V_END);
        if (!e)
            return PW_OK;
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL || (r->o->stop && *r->o->stop)) {
            rd_kafka_headers_destroy(out);
            return pw_err_set(r->err, e == RD_KAFKA_RESP_ERR__QUEUE_FULL ? PW_E_TRANSIENT
                                                                         : kafka_err(e),
                              "cannot send to '%s': %s", topic, rd_kafka_err2str(e));
        }
        rd_kafka_poll(r->producer, 100); /* the queue is full: let deliveries drain it */
    }
}

static bool redrive_one(const rd_kafka_message_t *m, void *arg)
{
    struct redrive *r = arg;
    struct pw_redrive_stats *st = r->st;
    st->read++;
    rd_kafka_headers_t *hs = NULL;
    if (rd_kafka_message_headers(m, &hs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        hs = NULL;
    char kind[32], code[64], dropped[32];
    if (!redrive_header(hs, "dlq.error.kind", kind, sizeof kind)) {
        st->foreign++;
    } else if (!redrive_in(kind, r->o->kinds, r->o->nkinds) ||
               !redrive_in(redrive_header(hs, "dlq.error.code", code, sizeof code) ? code : "",
                           r->o->codes, r->o->ncodes)) {
        st->skipped++;
    } else if (redrive_header(hs, "dlq.value.dropped", dropped, sizeof dropped)) {
        st->dropped++;
        kafka_log(r->o->settings, "warn",
                  "redrive: dead letter %d/%lld went without its value (%s bytes): not sent; its "
                  "dlq.original.* headers say where the original is",
                  (int)m->partition, (long long)m->offset, dropped);
    } else {
        if (r->o->dry_run && st->sent + 1 <= REDRIVE_LIST_MAX)
            kafka_log(r->o->settings, "info", "would send %d/%lld (%s, %s) key '%.*s'",
                      (int)m->partition, (long long)m->offset, kind, code,
                      m->key ? (int)(m->key_len < 200 ? m->key_len : 200) : 0,
                      m->key ? (const char *)m->key : "");
        else if (!r->o->dry_run)
            r->rc = redrive_send(r, m, hs);
        st->sent += r->rc == PW_OK; /* queued; a refused delivery is counted as failed */
        if (r->producer)
            rd_kafka_poll(r->producer, 0);
    }
    redrive_progress(r, false);
    return r->rc == PW_OK && !(r->o->stop && *r->o->stop);
}

/* Waits for every send; PW_OK if all were acknowledged. */
static enum pw_err redrive_flush(struct redrive *r)
{
    while (rd_kafka_outq_len(r->producer) > 0) {
        rd_kafka_flush(r->producer, 100);
        if (r->o->stop && *r->o->stop && rd_kafka_outq_len(r->producer) > 0) {
            kafka_log(r->o->settings, "warn", "redrive: stopping; waiting up to 10 s for %d sends",
                      rd_kafka_outq_len(r->producer));
            rd_kafka_flush(r->producer, 10000);
            break;
        }
    }
    r->st->failed += (uint64_t)rd_kafka_outq_len(r->producer);
    if (!r->st->failed)
        return PW_OK;
    return pw_err_set(r->err, PW_E_FATAL,
                      "%llu of the dead letters sent were not acknowledged by '%s' (%s): run the "
                      "redrive again; what arrived twice is a duplicate to the worker",
                      (unsigned long long)r->st->failed, r->o->settings->commands_topic,
                      rd_kafka_err2str(r->first_err));
}

enum pw_err pw_kafka_redrive(const struct pw_redrive_opts *o, struct pw_redrive_stats *st,
                             struct pw_errbuf *err)
{
    const struct pw_kafka_settings *s = o->settings;
    struct redrive r = {.log = {s, "producer"}, .o = o, .st = st, .err = err};
    struct kafka_reader reader;
    memset(st, 0, sizeof *st);
    enum pw_err rc = kafka_reader_open(&reader, s, s->dlq_topic, o->start, o->start_offset,
                                       o->start_time_ms, err);
    if (!rc && !o->dry_run && !(r.producer = kafka_producer_new(s, NULL, &r, redrive_dr, err)))
        rc = err->code;
    r.last_progress_ms = kafka_now_ms();
    for (unsigned attempt = 0; !rc; attempt++) {
        rc = kafka_reader_run(&reader, true, o->stop, redrive_one, &r, err);
        if (rc != PW_E_TRANSIENT || (o->stop && *o->stop))
            break;
        if (attempt == 0)
            kafka_log(s, "warn", "redrive: %s; retrying with backoff", err->msg);
        if (!pw_backoff_sleep(attempt, o->stop))
            break;
        rc = PW_OK;
    }
    if (!rc)
        rc = r.rc;
    if (r.producer) {
        enum pw_err frc = redrive_flush(&r);
        if (!rc)
            rc = frc;
        rd_kafka_destroy(r.producer);
    }
    kafka_reader_close(&reader);
    if (!rc && o->stop && *o->stop)
        rc = pw_err_set(err, PW_E_TRANSIENT, "redrive stopped before the end of '%s'",
                        s->dlq_topic);
    redrive_progress(&r, true);
    return rc;
}
