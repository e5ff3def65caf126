/*
 * Parking, as plain data shared by the unit of work and the store ports: a
 * post whose command failed is parked behind it, and its later commands are
 * held, in order, with the data, until that command is applied, rejected
 * or given up (released). Then the held commands run, oldest first, and the
 * post is no longer parked.
 */
#ifndef PW_PORTS_PARKING_H
#define PW_PORTS_PARKING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "domain/command.h"
#include "domain/err.h"
#include "ports/message.h"

/*
 * A parked post and the command it waits on. The failed command is known by
 * its (source, id) once it was decoded; a message given up undecoded (it
 * killed the process: max_attempts) is known by its value instead, which a
 * redrive sends again byte for byte.
 */
struct pw_parked {
    char post_id[PW_POST_ID_MAX + 1];
    bool draining;    /* its failed command is done with: the held commands run next */
    enum pw_err code; /* why the command failed: apply_failed or max_attempts */
    char source[PW_CMD_SOURCE_BYTES + 1]; /* the failed command's; "" when undecoded */
    char id[PW_CMD_ID_BYTES + 1];
    const void *value; /* the failed message's value when undecoded, else NULL; see each op */
    size_t value_len;
    char topic[PW_TOPIC_MAX + 1]; /* where the failed message was read */
    int32_t partition;
    int64_t offset;
    int64_t held;       /* commands held behind it */
    int64_t parked_ms;  /* when it was parked, wall clock in milliseconds */
    int64_t oldest_ms;  /* when its oldest held command was held; 0 when none is */
};

/* True when in is the command p is parked behind: the same (source, id), or the same bytes. */
bool pw_parked_is_failed(const struct pw_parked *p, const struct pw_cmd *cmd,
                         const struct pw_origin *origin);

/*
 * A held command, as the store gives it back to be run: the original
 * message (its origin's bytes and strings live in mem, one allocation) and
 * its place in its post's queue.
 */
struct pw_held {
    char post_id[PW_POST_ID_MAX + 1];
    uint64_t seq; /* its place: the store's order of holding, unique, from 1 */
    unsigned deaths; /* its runs alone that died before it was held (handlers/runs.h) */
    struct pw_origin origin;
    char *mem;
};

/* Frees what h owns and zeroes it; safe on a zeroed one. */
void pw_held_release(struct pw_held *h);

/*
 * Deep-copies origin (its strings, bytes and headers) into h->origin, in
 * one allocation that h owns. PW_E_NOMEM leaves h's origin zeroed.
 */
enum pw_err pw_held_copy_origin(struct pw_held *h, const struct pw_origin *origin);

/*
 * The runs of held commands are counted (ports/store.h, runs_start) at
 * this partition of their topic, at their seq: apart from the partitions'
 * own positions, and one at a time, as a drain runs them.
 */
#define PW_HELD_PARTITION (-1)

#endif
