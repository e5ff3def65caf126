/*
 * Inbound port: what a driving adapter (the Kafka worker) asks of the
 * application. Run a batch of commands in one unit of work, publish what
 * committed, and say where a partition's stored position is. handlers/
 * implements it; the adapter never sees a handler, a registry or a relay.
 */
#ifndef PW_PORTS_SERVICE_H
#define PW_PORTS_SERVICE_H

#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"

enum pw_outcome_kind {
    PW_OUTCOME_APPLIED,   /* state changed; events recorded in the outbox */
    PW_OUTCOME_DUPLICATE, /* (source, id) was processed before; nothing done */
    PW_OUTCOME_REJECTED,  /* refused by a rule (or no handler); err says which */
    PW_OUTCOME_RETRY,     /* a port failed transiently; nothing was kept */
};

/*
 * What became of one command. events are the applied command's events, with
 * their ids, owned by the outcome (pw_outcome_release). For a duplicate,
 * err.code is the outcome first recorded (PW_OK for applied).
 */
struct pw_outcome {
    enum pw_outcome_kind kind;
    struct pw_errbuf err;
    size_t nevents;
    struct pw_event events[PW_CMD_MAX_EVENTS];
};

/* A consumer position to store in the same transaction: next is the next offset to read. */
struct pw_offset {
    const char *topic;
    int32_t partition;
    int64_t next;
};

/*
 * Runs after every command of a batch and before the commit, with their
 * outcomes. A failure rolls the batch back (every outcome RETRY). The Kafka
 * worker makes its dead letters durable here, so that a rejected command is
 * never marked processed while its dead letter could still be lost.
 */
typedef enum pw_err (*pw_before_commit_fn)(void *arg, const struct pw_cmd *cmds,
                                           const struct pw_outcome *outs, size_t n,
                                           struct pw_errbuf *err);

struct pw_service_ops {
    const char *name;
    /*
     * Runs cmds[0..n) in one unit of work with offsets stored alongside, as
     * pw_dispatch_batch does (handlers/dispatch.h): PW_OK when it committed,
     * else nothing was kept and the caller retries. hook may be NULL.
     */
    enum pw_err (*run)(void *self, const struct pw_cmd *cmds, size_t n,
                       const struct pw_offset *offsets, size_t noffsets, struct pw_outcome *outs,
                       pw_before_commit_fn hook, void *hook_arg, struct pw_errbuf *err);
    /* Publishes every committed event not yet published; *published counts them. */
    enum pw_err (*publish)(void *self, size_t *published, struct pw_errbuf *err);
    /*
     * Starts publishing without waiting: confirms what the last call left
     * pending (*confirmed counts it), then publishes one round and leaves it
     * pending. *more: the outbox may hold more than one round; call publish.
     */
    enum pw_err (*publish_start)(void *self, size_t *confirmed, bool *more, struct pw_errbuf *err);
    /* The stored next offset of topic/partition, -1 if none. */
    enum pw_err (*position)(void *self, const char *topic, int32_t partition, int64_t *offset,
                            struct pw_errbuf *err);
};

struct pw_service {
    const struct pw_service_ops *ops;
    void *self;
};

static inline enum pw_err pw_service_run(struct pw_service *svc, const struct pw_cmd *cmds,
                                         size_t n, const struct pw_offset *offsets,
                                         size_t noffsets, struct pw_outcome *outs,
                                         pw_before_commit_fn hook, void *hook_arg,
                                         struct pw_errbuf *err)
{
    return svc->ops->run(svc->self, cmds, n, offsets, noffsets, outs, hook, hook_arg, err);
}

static inline enum pw_err pw_service_publish(struct pw_service *svc, size_t *published,
                                             struct pw_errbuf *err)
{
    return svc->ops->publish(svc->self, published, err);
}

static inline enum pw_err pw_service_publish_start(struct pw_service *svc, size_t *confirmed,
                                                   bool *more, struct pw_errbuf *err)
{
    return svc->ops->publish_start(svc->self, confirmed, more, err);
}

static inline enum pw_err pw_service_position(struct pw_service *svc, const char *topic,
                                              int32_t partition, int64_t *offset,
                                              struct pw_errbuf *err)
{
    return svc->ops->position(svc->self, topic, partition, offset, err);
}

/* Frees the outcome's events; safe on a zeroed outcome. */
static inline void pw_outcome_release(struct pw_outcome *out)
{
    for (size_t i = 0; i < out->nevents; i++)
        pw_event_release(&out->events[i]);
    out->nevents = 0;
}

#endif
