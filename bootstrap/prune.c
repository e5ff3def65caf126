/* The inbox's retention, in a thread (bootstrap/prune.h). */
#include "bootstrap/prune.h"

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "adapters/kafka/client_kafka.h"
#include "bootstrap/log.h"

#define PRUNE_BATCH 1000       /* marks a statement: a short transaction */
#define PRUNE_EVERY_MS 1000    /* when a round found less than a batch */
#define PRUNE_PAUSE_MS 20      /* between full batches: a little at a time */
#define PRUNE_RETRY_MS 60000   /* after a failure: the broker or the store is away */
#define PRUNE_DAY_MS 86400000LL

struct pw_pruner {
    struct pw_store *store;
    int64_t retention_ms; /* 0 until known */
    struct pw_kafka_settings ks; /* the caller's, with a stop of the pruner's own */
    volatile sig_atomic_t stopping;
    const char *topic;
    struct pw_metrics *m;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;
    bool stop;
    bool warned; /* that the topic's retention could not be read */
};

/* Waits ms, or until stopped; false once stopped. */
static bool prune_sleep(struct pw_pruner *p, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&p->lock);
    while (!p->stop && pthread_cond_timedwait(&p->wake, &p->lock, &ts) == 0)
        ;
    bool go_on = !p->stop;
    pthread_mutex_unlock(&p->lock);
    return go_on;
}

/*
 * The retention from the longest the commands topic may keep a command,
 * plus a day; false while it cannot be known.
 */
static bool prune_learn(struct pw_pruner *p, bool *forever)
{
    int64_t ms = 0;
    struct pw_errbuf err;
    *forever = p->ks.embedded;
    if (*forever) {
        pw_log("info", "inbox retention: forever, as the embedded broker keeps every command");
        return true;
    }
    if (pw_kafka_topic_retention(&p->ks, p->topic, &ms, &err)) {
        if (!p->warned)
            pw_log("warn", "inbox retention: %s; no mark is pruned until the broker answers "
                   "(or set --inbox-retention)", err.msg);
        p->warned = true;
        return false;
    }
    *forever = ms < 0; /* at most a century otherwise (client_kafka.h): a day more fits */
    if (*forever)
        pw_log("info", "inbox retention: forever, as topic '%s' keeps its data", p->topic);
    else
        p->retention_ms = ms + PRUNE_DAY_MS;
    return true;
}

static void *prune_main(void *arg)
{
    struct pw_pruner *p = arg;
    bool forever = false, failing = false;
    while (!p->retention_ms) {
        if (prune_learn(p, &forever) || !prune_sleep(p, PRUNE_RETRY_MS))
            break;
    }
    if (p->retention_ms > 0 && !forever)
        pw_log("info", "inbox retention: marks older than %lld s are pruned",
               (long long)(p->retention_ms / 1000));
    while (p->retention_ms > 0 && !forever) {
        size_t n = 0;
        struct pw_errbuf err;
        enum pw_err rc = pw_store_prune_inbox(p->store, p->retention_ms, PRUNE_BATCH, &n, &err);
        if (rc && !failing)
            pw_log("warn", "inbox retention: %s; trying again in a minute", err.msg);
        failing = rc != PW_OK;
        atomic_fetch_add(&p->m->inbox_pruned, n);
        if (!prune_sleep(p, rc ? PRUNE_RETRY_MS : n == PRUNE_BATCH ? PRUNE_PAUSE_MS : PRUNE_EVERY_MS))
            break;
    }
    return NULL;
}

enum pw_err pw_pruner_start(struct pw_pruner **out, struct pw_store *store, int64_t retention_ms,
                            const struct pw_kafka_settings *ks, const char *topic,
                            struct pw_metrics *m)
{
    *out = NULL;
    if (retention_ms < 0) {
        pw_log("info", "inbox retention: forever (--inbox-retention)");
        return PW_OK;
    }
    struct pw_pruner *p = calloc(1, sizeof *p);
    if (!p)
        return PW_E_NOMEM;
    *p = (struct pw_pruner){.store = store, .retention_ms = retention_ms, .ks = *ks,
                            .topic = topic, .m = m};
    p->ks.stop = &p->stopping;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, &attr);
    pthread_condattr_destroy(&attr);
    if (pthread_create(&p->thread, NULL, prune_main, p) != 0) {
        p->stop = true;
        pw_pruner_stop(p);
        return PW_E_NOMEM;
    }
    *out = p;
    return PW_OK;
}

void pw_pruner_stop(struct pw_pruner *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->lock);
    bool started = !p->stop;
    p->stop = true;
    p->stopping = 1; /* ends a question to the broker under way */
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
    if (started)
        pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->wake);
    free(p);
}
