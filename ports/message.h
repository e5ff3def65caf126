/*
 * The messages at the application's edge, as plain data. An origin is an
 * inbound message as the driving adapter saw it: where it came from and its
 * bytes, which a dead letter must carry on byte for byte. An outgoing
 * message (struct pw_out) is what the outbox holds and the bus publishes:
 * an event, or a dead letter, each bound for the topic it names.
 */
#ifndef PW_PORTS_MESSAGE_H
#define PW_PORTS_MESSAGE_H

#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "domain/event.h"

/* Kafka's own limit on a topic name. */
#define PW_TOPIC_MAX 249

/* A message header: value need not end in NUL; a NULL value is a null header. */
struct pw_header {
    const char *name;
    const void *value;
    size_t len;
};

/*
 * An inbound message. Every pointer is borrowed from the driving adapter
 * (for as long as the call it is passed to) unless a copy owns it. key and
 * value may be NULL (a null key, a null value).
 */
struct pw_origin {
    const char *group; /* the consumer group that read it; "" for none */
    const char *topic;
    int32_t partition;
    int64_t offset;
    int64_t timestamp_ms; /* -1 when the message has none */
    const void *key;
    size_t key_len;
    const void *value;
    size_t value_len;
    const struct pw_header *headers;
    size_t nheaders;
};

/*
 * Deep-copies src (its strings, bytes and headers) into *dst, in one
 * allocation returned in *mem, which the caller frees; dst points into it.
 * PW_E_NOMEM leaves *dst zeroed and *mem NULL. src and dst may be the same.
 */
enum pw_err pw_origin_copy(struct pw_origin *dst, const struct pw_origin *src, char **mem);

/*
 * A dead letter: the inbound message and why it could not be applied. Its
 * kind is pw_err_kind(code). mem is NULL while the origin's bytes are
 * borrowed, and the one allocation that holds them in a copy.
 */
struct pw_dead_letter {
    struct pw_origin origin;
    enum pw_err code;
    char message[256];
    unsigned attempts; /* how many times it was tried: 1 unless it failed */
    char parked[PW_POST_ID_MAX + 1]; /* a failed command's post, which it parked; "" none */
    char *mem;
};

/*
 * Deep-copies src (its origin's strings, bytes and headers) into *dst, in
 * one allocation that dst owns. PW_E_NOMEM leaves *dst zeroed.
 */
enum pw_err pw_dead_letter_copy(struct pw_dead_letter *dst, const struct pw_dead_letter *src);

/* Frees what a copy owns and zeroes dl; safe on a zeroed or borrowing one. */
void pw_dead_letter_release(struct pw_dead_letter *dl);

enum pw_out_kind { PW_OUT_EVENT, PW_OUT_DEAD_LETTER };

/*
 * An outgoing message, owned: ev (PW_OUT_EVENT) or dl (PW_OUT_DEAD_LETTER,
 * a copy), for topic. An empty topic is the events topic (rows written
 * before outbox rows named their topic).
 */
struct pw_out {
    enum pw_out_kind kind;
    char topic[PW_TOPIC_MAX + 1];
    struct pw_event ev;
    struct pw_dead_letter dl;
};

/*
 * A row's payload bytes: a dead letter's key, value and packed headers, an
 * event's author, title and body. Outbox readers stop a round once the rows
 * they took hold PW_OUT_ROUND_BYTES of it (after at least one row), so that
 * a round of megabyte dead letters stays bounded in memory.
 */
#define PW_OUT_ROUND_BYTES (16u * 1024 * 1024)
size_t pw_out_bytes(const struct pw_out *out);

/* Deep copy; PW_E_NOMEM leaves *dst zeroed. */
enum pw_err pw_out_copy(struct pw_out *dst, const struct pw_out *src);

/* Frees what out owns and zeroes it; safe on a zeroed one. */
void pw_out_release(struct pw_out *out);

/*
 * Headers packed into bytes, for a store that keeps them in one column (the
 * packed size is also what pw_out_bytes counts for headers, so that every
 * reader and the relay measure a round alike): per
 * header its name and a NUL, a 4-byte big-endian value length (0xffffffff
 * for a null value), and the value. pw_headers_pack writes
 * pw_headers_packed_size bytes to out.
 */
size_t pw_headers_packed_size(const struct pw_header *hs, size_t n);
void pw_headers_pack(const struct pw_header *hs, size_t n, unsigned char *out);

/*
 * Unpacks len bytes at p: *n is how many headers they hold, and the first
 * max of them go into hs[], pointing into p. PW_E_FATAL for bytes that are
 * not such a packing.
 */
enum pw_err pw_headers_unpack(const unsigned char *p, size_t len, struct pw_header *hs,
                              size_t max, size_t *n);

#endif
