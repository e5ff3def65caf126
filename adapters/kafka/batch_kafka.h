/*
 * One batch of consumed messages (internal to adapters/kafka): each
 * message beside its input for the application (origin, decoded command)
 * and its outcome, one record array instead of parallel ones, plus each
 * partition's next offset.
 */
#ifndef PW_ADAPTERS_KAFKA_BATCH_KAFKA_H
#define PW_ADAPTERS_KAFKA_BATCH_KAFKA_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stddef.h>

#include "ports/service.h"

/*
 * A batch ends early once its messages carry this many headers: each costs
 * a slot in the batch's header list, and a hostile producer can put half a
 * million empty headers in one megabyte.
 */
#define KAFKA_BATCH_MAX_HEADERS 65536

struct kafka_batch {
    size_t cap, n;
    rd_kafka_message_t **msgs;  /* owned until kafka_batch_drop */
    struct pw_input *in;        /* in[i] is msgs[i], decoded when the application says */
    struct pw_outcome *outs;
    struct pw_header *hdrs;     /* every message's headers, borrowed from the messages */
    size_t nhdrs, cap_hdrs;
    size_t *first;              /* per message, where its headers start in hdrs */
    struct pw_offset *offsets;  /* per partition of the batch, the next offset */
    size_t noffsets;
};

/* Room for cap messages. PW_E_NOMEM, with err, on failure; release either way. */
enum pw_err kafka_batch_init(struct kafka_batch *b, size_t cap, struct pw_errbuf *err);
void kafka_batch_release(struct kafka_batch *b);

static inline bool kafka_batch_full(const struct kafka_batch *b)
{
    return b->n == b->cap || (b->n > 0 && b->nhdrs >= KAFKA_BATCH_MAX_HEADERS);
}

/*
 * Takes m (the batch destroys it, whatever this returns) and gathers its
 * headers; the batch must not be full. PW_E_NOMEM if the header list
 * cannot grow.
 */
enum pw_err kafka_batch_add(struct kafka_batch *b, rd_kafka_message_t *m, struct pw_errbuf *err);

/*
 * Makes every message (all of topic) an input, not yet decoded, with group
 * and topic (borrowed, outliving the batch's use of them) in the origins
 * and offsets.
 */
void kafka_batch_prepare(struct kafka_batch *b, const char *group, const char *topic);

/*
 * The codec as the application calls it (pw_decode_fn): decodes in's
 * origin into its command, or the reason it is malformed.
 */
void kafka_batch_decode_one(struct pw_input *in);

/*
 * Drops the messages of parts (a cooperative revocation: the batch keeps
 * the rest, in order), as kafka_batch_drop does; before prepare.
 */
void kafka_batch_drop_of(struct kafka_batch *b, const rd_kafka_topic_partition_list_t *parts);

/* Frees the commands and destroys the messages; the batch is empty again. */
void kafka_batch_drop(struct kafka_batch *b);

#endif
