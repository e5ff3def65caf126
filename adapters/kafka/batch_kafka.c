/*
 * Decoding a batch. Headers are gathered into one list for the whole batch
 * that grows to its high-water mark and stays, so that the per-message path
 * allocates nothing of its own but the command the codec makes.
 */
#include "adapters/kafka/batch_kafka.h"

#include <stdlib.h>
#include <string.h>

#include "adapters/kafka/cloudevents.h"

enum pw_err kafka_batch_init(struct kafka_batch *b, size_t cap, struct pw_errbuf *err)
{
    memset(b, 0, sizeof *b);
    b->cap = cap ? cap : 1;
    b->msgs = calloc(b->cap, sizeof *b->msgs);
    b->in = calloc(b->cap, sizeof *b->in);
    b->outs = calloc(b->cap, sizeof *b->outs);
    b->offsets = calloc(b->cap, sizeof *b->offsets);
    b->first = calloc(b->cap, sizeof *b->first);
    if (!b->msgs || !b->in || !b->outs || !b->offsets || !b->first)
        return pw_err_set(err, PW_E_NOMEM, "out of memory for a batch of %zu", b->cap);
    return PW_OK;
}

void kafka_batch_release(struct kafka_batch *b)
{
    if (b->msgs)
        kafka_batch_drop(b);
    free(b->msgs);
    free(b->in);
    free(b->outs);
    free(b->hdrs);
    free(b->offsets);
    free(b->first);
    memset(b, 0, sizeof *b);
}

/*
 * Appends m's headers to the batch's list; *first is where they start.
 * Headers are read once per message: librdkafka parses them on each call
 * for a message that has none.
 */
static enum pw_err batch_headers(struct kafka_batch *b, rd_kafka_message_t *m, size_t *first,
                                 struct pw_errbuf *err)
{
    *first = b->nhdrs;
    rd_kafka_headers_t *hdrs;
    if (rd_kafka_message_headers(m, &hdrs) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return PW_OK;
    size_t count = rd_kafka_header_cnt(hdrs);
    if (b->nhdrs + count > b->cap_hdrs) {
        size_t cap = b->cap_hdrs ? b->cap_hdrs : 64;
        while (cap < b->nhdrs + count)
            cap *= 2;
        struct pw_header *v = realloc(b->hdrs, cap * sizeof *v);
        if (!v)
            return pw_err_set(err, PW_E_NOMEM, "out of memory for %zu message headers", cap);
        b->hdrs = v;
        b->cap_hdrs = cap;
    }
    const char *name;
    const void *val;
    size_t size;
    for (size_t i = 0; !rd_kafka_header_get_all(hdrs, i, &name, &val, &size); i++)
        b->hdrs[b->nhdrs++] = (struct pw_header){name, val, val ? size : 0};
    return PW_OK;
}

/* Raises the next offset of m's partition to past m. */
static void batch_offset(struct kafka_batch *b, const char *group, const char *topic,
                         const rd_kafka_message_t *m)
{
    size_t k = 0;
    while (k < b->noffsets && b->offsets[k].partition != m->partition)
        k++;
    if (k == b->noffsets)
        b->offsets[b->noffsets++] = (struct pw_offset){
            .group = group, .topic = topic, .partition = m->partition};
    if (m->offset + 1 > b->offsets[k].next)
        b->offsets[k].next = m->offset + 1;
}

enum pw_err kafka_batch_add(struct kafka_batch *b, rd_kafka_message_t *m, struct pw_errbuf *err)
{
    b->msgs[b->n] = m;
    return batch_headers(b, m, &b->first[b->n++], err);
}

void kafka_batch_prepare(struct kafka_batch *b, const char *group, const char *topic)
{
    const size_t *first = b->first;
    b->noffsets = 0;
    /* The list has stopped moving: now the origins may point into it. */
    for (size_t i = 0; i < b->n; i++) {
        rd_kafka_message_t *m = b->msgs[i];
        struct pw_input *in = &b->in[i];
        size_t nh = (i + 1 < b->n ? first[i + 1] : b->nhdrs) - first[i];
        rd_kafka_timestamp_type_t tstype;
        memset(in, 0, sizeof *in);
        in->origin = (struct pw_origin){
            .group = group,
            .topic = topic,
            .partition = m->partition,
            .offset = m->offset,
            .timestamp_ms = rd_kafka_message_timestamp(m, &tstype),
            .key = m->key,
            .key_len = m->key_len,
            .value = m->payload,
            .value_len = m->len,
            .headers = nh ? &b->hdrs[first[i]] : NULL,
            .nheaders = nh,
        };
        batch_offset(b, group, topic, m);
    }
}

void kafka_batch_decode_one(struct pw_input *in)
{
    const struct pw_origin *o = &in->origin;
    int64_t ts = o->timestamp_ms;
    struct pw_ce_message cm = {
        .value = o->value ? o->value : "",
        .len = o->value_len,
        .headers = o->headers,
        .nheaders = o->nheaders,
        /* A producer picks the timestamp: one past year 9999 must not overflow. */
        .timestamp = ts < 0                    ? PW_TIME_NONE
                     : ts > PW_TIME_MAX / 1000 ? PW_TIME_MAX + 1
                                               : ts * 1000,
    };
    pw_err_clear(&in->decoded);
    pw_ce_decode_cmd(&cm, &in->cmd, &in->decoded);
    in->ready = true;
}

/* Whether m is of one of parts (of the batch's topic). */
static bool batch_in(const rd_kafka_topic_partition_list_t *parts, const rd_kafka_message_t *m)
{
    for (int i = 0; i < parts->cnt; i++)
        if (parts->elems[i].partition == m->partition)
            return true;
    return false;
}

void kafka_batch_drop_of(struct kafka_batch *b, const rd_kafka_topic_partition_list_t *parts)
{
    size_t n = b->n, keep = 0;
    for (size_t i = 0; i < n; i++) {
        rd_kafka_message_t *m = b->msgs[i];
        if (batch_in(parts, m)) {
            pw_cmd_release(&b->in[i].cmd);
            rd_kafka_message_destroy(m);
        } else {
            b->msgs[keep++] = m;
        }
    }
    /* Gather the kept ones' headers again: fewer than before, so there is room. */
    b->n = b->nhdrs = b->noffsets = 0;
    struct pw_errbuf err;
    for (size_t i = 0; i < keep; i++) {
        b->n++;
        (void)batch_headers(b, b->msgs[i], &b->first[i], &err);
    }
}

void kafka_batch_drop(struct kafka_batch *b)
{
    for (size_t i = 0; i < b->n; i++) {
        pw_cmd_release(&b->in[i].cmd);
        rd_kafka_message_destroy(b->msgs[i]);
    }
    b->n = b->nhdrs = b->noffsets = 0;
    /* After a spike of headers, give the memory back. */
    if (b->cap_hdrs > 2 * KAFKA_BATCH_MAX_HEADERS) {
        free(b->hdrs);
        b->hdrs = NULL;
        b->cap_hdrs = 0;
    }
}
