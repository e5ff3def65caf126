/*
 * The domain events of the contract. An event carries the whole post after
 * the change, so that a consumer can rebuild its view from events alone, and
 * the identity of the command that caused it.
 */
#ifndef PW_DOMAIN_EVENT_H
#define PW_DOMAIN_EVENT_H

#include "domain/command.h"
#include "domain/post.h"

/*      enum suffix    wire name (CloudEvents type) */
#define PW_EVENT_LIST(X)               \
    X(POST_CREATED, "PostCreated")     \
    X(POST_UPDATED, "PostUpdated")     \
    X(POST_DELETED, "PostDeleted")

enum pw_event_type {
#define PW_EVENT_ENUM(suffix, name) PW_EVENT_##suffix,
    PW_EVENT_LIST(PW_EVENT_ENUM)
#undef PW_EVENT_ENUM
    PW_EVENT__COUNT
};

/* The most events one command may produce; the contract's commands make one. */
#define PW_CMD_MAX_EVENTS 2

/* An event id is a UUID in its 36-character text form. */
#define PW_EVENT_ID_LEN 36

/*
 * An event. post is owned by the event. causation_id is the command's id;
 * correlation_id the command's correlation id, else its id. index is the
 * event's position among its command's events, which the id derives from.
 */
struct pw_event {
    enum pw_event_type type;
    char id[PW_EVENT_ID_LEN + 1];
    unsigned index;
    pw_time time;
    char source[PW_CMD_SOURCE_BYTES + 1]; /* the command's source, for the id */
    char causation_id[PW_CMD_ID_BYTES + 1];
    char correlation_id[PW_CMD_CORRELATION_BYTES + 1];
    char traceparent[PW_TRACEPARENT_LEN + 1]; /* the command's trace, a span of its own; "" none */
    char tracestate[PW_TRACESTATE_MAX + 1];
    struct pw_post post;
};

/* "PostCreated", ...; NULL for a value outside the enum. */
const char *pw_event_type_name(enum pw_event_type type);
bool pw_event_type_from_name(const char *name, enum pw_event_type *out);

/*
 * Fills in *ev for the command in env: causation, correlation, time and
 * index. Takes ownership of *post (which is zeroed). The id is left empty:
 * deriving it is the event-id port's work.
 */
void pw_event_init(struct pw_event *ev, enum pw_event_type type, unsigned index,
                   const struct pw_envelope *env, struct pw_post *post);

/* Deep copy; PW_E_NOMEM leaves *dst zeroed. */
enum pw_err pw_event_copy(struct pw_event *dst, const struct pw_event *src);

/* Frees the post and zeroes ev; safe on a zeroed event. */
void pw_event_release(struct pw_event *ev);

#endif
