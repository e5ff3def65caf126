/*
 * The worker loop's state (internal to handlers/loop*.c): the loop itself
 * (loop.c), the listener and the waits (loop_wait.c), and what it says and
 * counts (loop_talk.c).
 */
#ifndef PW_HANDLERS_LOOP_INT_H
#define PW_HANDLERS_LOOP_INT_H

#include "handlers/loop.h"

/*
 * What the loop says on its own: a progress line every LOOP_PROGRESS_MS
 * while the counts move (and one more once they stop, so that the last line
 * after a burst has its total), and at most LOOP_WARN_MAX dead-letter and
 * rejection lines per LOOP_WARN_WINDOW_MS, then the count held back.
 */
#define LOOP_PROGRESS_MS 5000
#define LOOP_WARN_MAX 20
#define LOOP_WARN_WINDOW_MS 10000
/* How often the lag, the outbox and parking are measured (and the store probed). */
#define LOOP_PROBE_MS 2000

struct loop_talk {
    int64_t progress_ms;        /* when the last progress line was said */
    uint64_t progress_consumed; /* the count it showed */
    int64_t window_ms;          /* when the warning window began */
    uint64_t shown, held;       /* warnings said and held back in it */
};

/* Where the loop is: what its next step does. */
enum loop_phase {
    LOOP_FETCH,   /* fetch a batch, or publish when idle */
    LOOP_RUN,     /* run the batch in hand (again, after a failure) */
    LOOP_PUBLISH, /* publish, then commit what is confirmed */
    LOOP_DRAIN,   /* run held commands whose post drains */
    LOOP_FINISH,  /* a stop or a replay's end: publish everything */
    LOOP_DONE,
};

struct pw_loop {
    struct pw_loop_config cfg;
    struct pw_source *src;
    struct pw_service *svc;
    struct pw_clock *clock;
    struct pw_metrics *m;          /* cfg.metrics, or own_metrics */
    struct pw_metrics own_metrics;
    enum loop_phase phase;
    unsigned attempt;              /* tries of the step in hand that failed */
    struct pw_fetched batch;       /* the batch in hand (its inputs the source's) */
    struct pw_outcome *outs;
    struct pw_offset *offsets;     /* the batch in hand's, per partition */
    size_t noffsets;
    uint64_t seq;                  /* the batch in hand's identity for the service */
    int64_t started_ms;            /* when its first try began */
    bool resolved;                 /* its run resolved a parked post: drain after publishing */
    bool sync;                     /* the next publish waits for everything */
    enum loop_phase after_publish; /* where a publish goes once it succeeds */
    /*
     * Batches run, their rows not yet confirmed: [0] the one run before the
     * last START publish (its commit may still be on its way: the next run
     * settles it, the next START publishes its rows), [1] the one before
     * (its rows published, the next START confirms them). Their offsets,
     * and the Kafka timestamps of their applied commands (for the latency).
     */
    struct loop_stage {
        struct pw_offset *offs;
        size_t noffs;
        int64_t *stamps;
        size_t nstamps;
    } stage[2];
    int64_t *stamps_next;          /* the timestamps of the batch in hand */
    size_t nstamps;
    bool end;                      /* the source said it has no more (a replay) */
    int64_t next_probe_ms;
    bool waiting;                  /* a dependency is down and that was said */
    int64_t waiting_since_ms, waiting_said_ms;
    struct loop_talk talk;
    enum pw_err fatal;             /* set by the listener, which cannot return it */
    struct pw_errbuf fatal_err;
    struct pw_loop_stats stats;
};

static inline bool loop_stopping(const struct pw_loop *l)
{
    return l->cfg.stop && *l->cfg.stop != 0;
}

static inline void loop_up(struct pw_loop *l, enum pw_metric_dependency d, bool up)
{
    atomic_store_explicit(&l->m->dependency_up[d], up, memory_order_relaxed);
}

static inline void loop_beat(struct pw_loop *l)
{
    atomic_store_explicit(&l->m->heartbeat_ms, pw_metrics_mono_ms(), memory_order_relaxed);
}

/* loop_wait.c: waiting out a dependency, and the probe. */
bool loop_wait(struct pw_loop *l, const char *what, enum pw_metric_retry kind,
               const struct pw_errbuf *err);
void loop_recovered(struct pw_loop *l);
bool loop_probe(struct pw_loop *l);

/* loop_talk.c */
size_t loop_count_outcomes(struct pw_loop *l, const struct pw_input *in,
                           const struct pw_outcome *outs, size_t n, int64_t *stamps);
void loop_observe_latency(struct pw_loop *l, const int64_t *ts, size_t n);
void loop_observe_no_lag(struct pw_loop *l);
void loop_talk_tick(struct pw_loop *l);

#endif
