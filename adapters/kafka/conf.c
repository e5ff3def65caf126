/*
 * Building librdkafka configurations. The user's -X properties go last so
 * that SASL, TLS and tuning work exactly as they do in kcat; values are never
 * logged, because some of them are secrets.
 */
#include "adapters/kafka/conf.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adapters/kafka/stats_kafka.h"
#include "domain/text.h"

void kafka_log(const struct pw_kafka_settings *s, const char *level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pw_vlogf(s->log, level, fmt, ap);
    va_end(ap);
}

/*
 * librdkafka repeats itself while a broker is down or a topic refuses us
 * (the audit counted 8 warnings a second). A line of one kind (its handle,
 * facility and text, digits left out) is shown at most once per
 * KAFKA_LOG_REPEAT_MS; the ones held back are counted, and the count is
 * shown with the next.
 */
#define KAFKA_LOG_REPEAT_MS 10000
#define KAFKA_LOG_KINDS 64

static struct {
    uint64_t key;
    long long last_ms;
    unsigned held;
} kafka_log_kinds[KAFKA_LOG_KINDS];
static pthread_mutex_t kafka_log_lock = PTHREAD_MUTEX_INITIALIZER;

static uint64_t kafka_log_key(const char *handle, const char *fac, const char *msg)
{
    uint64_t h = 1469598103934665603ULL;
    const char *parts[] = {handle, fac, msg};
    for (int i = 0; i < 3; i++)
        for (const char *p = parts[i]; p && *p; p++)
            if (*p < '0' || *p > '9')
                h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h | 1; /* 0 marks a free slot */
}

bool kafka_log_admit(const char *handle, const char *fac, const char *msg, long long now_ms,
                     unsigned *held)
{
    uint64_t key = kafka_log_key(handle, fac, msg);
    size_t at = key % KAFKA_LOG_KINDS;
    bool show = true;
    *held = 0;
    pthread_mutex_lock(&kafka_log_lock);
    if (kafka_log_kinds[at].key == key && now_ms - kafka_log_kinds[at].last_ms < KAFKA_LOG_REPEAT_MS) {
        kafka_log_kinds[at].held++;
        show = false;
    } else {
        *held = kafka_log_kinds[at].key == key ? kafka_log_kinds[at].held : 0;
        kafka_log_kinds[at].key = key;
        kafka_log_kinds[at].last_ms = now_ms;
        kafka_log_kinds[at].held = 0;
    }
    pthread_mutex_unlock(&kafka_log_lock);
    return show;
}

/*
 * Kept handles, and a lock that callbacks hold for reading while they use
 * an opaque, so that keeping one waits for those running.
 */
static pthread_rwlock_t kafka_kept_lock = PTHREAD_RWLOCK_INITIALIZER;
static rd_kafka_t *kafka_kept[KAFKA_KEPT_MAX];
static size_t kafka_nkept;

bool kafka_keep(rd_kafka_t *rk)
{
    pthread_rwlock_wrlock(&kafka_kept_lock);
    bool room = kafka_nkept < KAFKA_KEPT_MAX;
    if (room)
        kafka_kept[kafka_nkept++] = rk;
    pthread_rwlock_unlock(&kafka_kept_lock);
    return room;
}

const struct kafka_logctx *kafka_opaque_use(const rd_kafka_t *rk)
{
    pthread_rwlock_rdlock(&kafka_kept_lock);
    for (size_t i = 0; i < kafka_nkept; i++)
        if (kafka_kept[i] == rk)
            return NULL;
    return rd_kafka_opaque(rk);
}

void kafka_opaque_done(void)
{
    pthread_rwlock_unlock(&kafka_kept_lock);
}

static void kafka_log_line(const struct kafka_logctx *ctx, int level, const char *fac,
                           const char *buf)
{
    if (!ctx || !ctx->s || !ctx->s->log)
        return;
    const char *handle = ctx->handle ? ctx->handle : "client";
    unsigned held;
    if (!kafka_log_admit(handle, fac, buf, kafka_now_ms(), &held))
        return;
    char more[64] = "";
    if (held)
        snprintf(more, sizeof more, " (and %u more like it held back)", held);
    /* syslog levels: 7 is librdkafka's debug (-X debug=...), shown at --log-level debug. */
    kafka_log(ctx->s, level <= 3 ? "error" : level <= 4 ? "warn" : level <= 6 ? "info" : "debug",
              "kafka %s %s: %s%s",
              handle, fac, buf, more);
}

/* librdkafka's own log lines, through ours (they never carry config values). */
static void kafka_log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    kafka_log_line(kafka_opaque_use(rk), level, fac, buf);
    kafka_opaque_done();
}

static int kafka_set(rd_kafka_conf_t *conf, const char *key, const char *value,
                     struct pw_errbuf *err)
{
    char errstr[256];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        /* librdkafka quotes the value it refused, and the value may be a secret. */
        char shown[256];
        size_t n = 0, vlen = strlen(value);
        for (const char *p = errstr; *p && n + 4 < sizeof shown;) {
            if (vlen && strncmp(p, value, vlen) == 0) {
                memcpy(shown + n, "...", 3);
                n += 3;
                p += vlen;
            } else {
                shown[n++] = *p++;
            }
        }
        shown[n] = '\0';
        pw_err_set(err, PW_E_USAGE, "kafka property '%s' is not accepted: %s", key, shown);
        return -1;
    }
    return 0;
}

/*
 * Which handles know a property, from librdkafka's own table: 'C'
 * consumers only, 'P' producers only, '*' both; 0 for a name it does not
 * know (set anyway, so that librdkafka refuses it by name).
 */
#define KAFKA_MAX_PROPS 512
static struct {
    char name[64];
    char scope;
} kafka_props[KAFKA_MAX_PROPS];
static size_t kafka_nprops;
static pthread_once_t kafka_props_once = PTHREAD_ONCE_INIT;

static void kafka_props_load(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (!f)
        return;
    rd_kafka_conf_properties_show(f);
    fclose(f);
    /* Rows: "name   |  C  | range | ...". */
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        char name[64], scope[4];
        if (kafka_nprops < KAFKA_MAX_PROPS && sscanf(line, "%63s | %3s |", name, scope) == 2 &&
            (scope[0] == 'C' || scope[0] == 'P' || scope[0] == '*') && !scope[1]) {
            memcpy(kafka_props[kafka_nprops].name, name, sizeof name);
            kafka_props[kafka_nprops++].scope = scope[0];
        }
    }
    free(text);
}

static char kafka_prop_scope(const char *key)
{
    pthread_once(&kafka_props_once, kafka_props_load);
    for (size_t i = 0; i < kafka_nprops; i++)
        if (strcmp(kafka_props[i].name, key) == 0)
            return kafka_props[i].scope;
    return 0;
}

rd_kafka_conf_t *kafka_conf_new(const struct pw_kafka_settings *s, rd_kafka_type_t type,
                                const char *const *defaults, void *opaque, struct pw_errbuf *err)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (s->brokers && kafka_set(conf, "bootstrap.servers", s->brokers, err))
        goto fail;
    /* Brokers' logs and quotas know the client by it. */
    if (s->client_id && kafka_set(conf, "client.id", s->client_id, err))
        goto fail;
    for (const char *const *d = defaults; d && d[0]; d += 2)
        if (kafka_set(conf, d[0], d[1], err))
            goto fail;
    /*
     * librdkafka 2.0's mock cluster answers a fetch only after its whole
     * wait (a command took 200-400 ms to become an event, 20 ms with 10),
     * and holds a join to a running group for the session timeout less a
     * second, whoever has rejoined (44 s at the default; 2 s with 3). A
     * real broker answers a fetch as data comes, and refuses sessions
     * under 6 s: there, librdkafka's defaults stand.
     */
    static const char *const mock[] = {"fetch.wait.max.ms", "10", "session.timeout.ms", "3000",
                                       "heartbeat.interval.ms", "500", NULL};
    for (const char *const *d = mock; s->embedded && type == RD_KAFKA_CONSUMER && *d; d += 2)
        if (kafka_set(conf, d[0], d[1], err))
            goto fail;
    if (s->metrics) {
        if (kafka_set(conf, "statistics.interval.ms", KAFKA_STATS_INTERVAL_MS, err))
            goto fail;
        rd_kafka_conf_set_stats_cb(conf, kafka_stats_cb);
    }
    for (size_t i = 0; i < s->nprops; i++) {
        char key[256];
        const char *eq = strchr(s->props[i], '=');
        if (!eq || (size_t)(eq - s->props[i]) >= sizeof key) {
            pw_err_set(err, PW_E_USAGE, "-X takes key=value");
            goto fail;
        }
        memcpy(key, s->props[i], (size_t)(eq - s->props[i]));
        key[eq - s->props[i]] = '\0';
        /* Each handle gets what it knows: a consumer's setting would make a producer warn. */
        char scope = kafka_prop_scope(key);
        if ((scope == 'C' && type != RD_KAFKA_CONSUMER) ||
            (scope == 'P' && type != RD_KAFKA_PRODUCER))
            continue;
        if (kafka_set(conf, key, eq + 1, err))
            goto fail;
    }
    rd_kafka_conf_set_log_cb(conf, kafka_log_cb);
    rd_kafka_conf_set_opaque(conf, opaque);
    return conf;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

/* Each entry of a broker list: [PROTOCOL://]HOST[:PORT], the port from 1 to 65535. */
static enum pw_err kafka_check_brokers(const char *list, struct pw_errbuf *err)
{
    const char *p = list;
    for (;;) {
        size_t len = strcspn(p, ",");
        char entry[256];
        if (len == 0 || len >= sizeof entry)
            return pw_err_set(err, PW_E_USAGE, "the broker list has an %s entry: give "
                              "HOST:PORT[,HOST:PORT...]", len ? "over-long" : "empty");
        memcpy(entry, p, len);
        entry[len] = '\0';
        const char *host = strstr(entry, "://") ? strstr(entry, "://") + 3 : entry;
        const char *colon = strrchr(host, ':');
        if (host[0] == '[' && (!colon || colon < strchr(host, ']')))
            colon = NULL; /* [::1] without a port */
        if (colon) {
            char *end;
            long port = strtol(colon + 1, &end, 10);
            if (!colon[1] || *end || port < 1 || port > 65535) {
                char shown[96];
                return pw_err_set(err, PW_E_USAGE, "broker '%s': the port is not a number from "
                                  "1 to 65535", pw_text_escape(entry, shown, sizeof shown));
            }
        }
        if (colon == host || !*host) {
            char shown[96];
            return pw_err_set(err, PW_E_USAGE, "broker '%s' has no host: give HOST:PORT",
                              pw_text_escape(entry, shown, sizeof shown));
        }
        if (!p[len])
            return PW_OK;
        p += len + 1;
    }
}

enum pw_err pw_kafka_settings_check(const struct pw_kafka_settings *s, struct pw_errbuf *err)
{
    if (s->brokers && kafka_check_brokers(s->brokers, err))
        return err->code;
    struct kafka_logctx quiet = {s, "check"};
    rd_kafka_conf_t *c = kafka_conf_new(s, RD_KAFKA_CONSUMER, NULL, &quiet, err);
    if (!c)
        return err->code;
    rd_kafka_conf_destroy(c);
    rd_kafka_conf_t *p = kafka_conf_new(s, RD_KAFKA_PRODUCER, NULL, &quiet, err);
    if (!p)
        return err->code;
    rd_kafka_conf_destroy(p);
    return PW_OK;
}

rd_kafka_t *kafka_producer_new(const struct pw_kafka_settings *s, const char *const *extra,
                               void *opaque,
                               void (*dr)(rd_kafka_t *, const rd_kafka_message_t *, void *),
                               struct pw_errbuf *err)
{
    static const char *const defaults[] = {
        "enable.idempotence", "true",
        "acks", "all",
        "linger.ms", "2",
        "message.timeout.ms", "30000",
        NULL,
    };
    /* Ours, then the caller's over them; kafka_conf_new puts the user's -X last. */
    const char *all[2 * 16 + 1];
    size_t n = 0;
    for (const char *const *d = defaults; *d; d++)
        all[n++] = *d;
    for (const char *const *d = extra; d && *d && n + 2 < sizeof all / sizeof all[0]; d += 2) {
        all[n++] = d[0];
        all[n++] = d[1];
    }
    all[n] = NULL;
    rd_kafka_conf_t *conf = kafka_conf_new(s, RD_KAFKA_PRODUCER, all, opaque, err);
    if (!conf)
        return NULL;
    char errstr[256];
    if (dr)
        rd_kafka_conf_set_dr_msg_cb(conf, dr);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        pw_err_set(err, PW_E_USAGE, "cannot start a producer: %s", errstr);
    }
    return rk;
}

void kafka_warm(rd_kafka_t *rk, const char *topic, volatile sig_atomic_t *stop)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    /* Up to 5 s in all, in slices short enough that a Ctrl-C at start-up is heard. */
    for (int slice = 0; rkt && slice < 25 && !(stop && *stop); slice++) {
        const struct rd_kafka_metadata *md = NULL;
        rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 200);
        if (md)
            rd_kafka_metadata_destroy(md);
        if (e != RD_KAFKA_RESP_ERR__TIMED_OUT && e != RD_KAFKA_RESP_ERR__TRANSPORT)
            break;
    }
    if (rkt)
        rd_kafka_topic_destroy(rkt);
}

enum pw_err kafka_err(rd_kafka_resp_err_t e)
{
    switch (e) {
    case RD_KAFKA_RESP_ERR_NO_ERROR:
        return PW_OK;
    case RD_KAFKA_RESP_ERR__FATAL:
    case RD_KAFKA_RESP_ERR__INVALID_ARG:
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_GROUP_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
    case RD_KAFKA_RESP_ERR__AUTHENTICATION:
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
        return PW_E_FATAL;
    default:
        /* Transport, timeouts, leader changes, queue full: it may work later. */
        return PW_E_TRANSIENT;
    }
}

long long kafka_now_ms(void)
{
    return kafka_now_us() / 1000;
}

long long kafka_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
