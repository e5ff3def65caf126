/*
 * The inbox's retention (POSTWORKER_INBOX_RETENTION): a thread of its own
 * that forgets processed marks older than the retention, a batch at a time,
 * on a store handle of its own, off the path of the messages.
 */
#ifndef PW_BOOTSTRAP_PRUNE_H
#define PW_BOOTSTRAP_PRUNE_H

#include "adapters/kafka/settings.h"
#include "ports/metrics.h"
#include "ports/store.h"

struct pw_pruner;

/*
 * Starts pruning store (borrowed until pw_pruner_stop: a handle of its own) with
 * retention_ms from --inbox-retention: -1 keeps every mark (no thread is
 * started, *out is NULL), 0 asks the broker for topic's retention.ms (in
 * the thread, until it answers) and adds a day. ks is borrowed until
 * pw_pruner_stop. PW_E_NOMEM if the thread cannot start.
 */
enum pw_err pw_pruner_start(struct pw_pruner **out, struct pw_store *store, int64_t retention_ms,
                            const struct pw_kafka_settings *ks, const char *topic,
                            struct pw_metrics *m);

/* Stops the thread and waits for it; NULL is a no-op. */
void pw_pruner_stop(struct pw_pruner *p);

#endif
