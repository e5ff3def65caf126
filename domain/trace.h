/*
 * W3C trace context (https://www.w3.org/TR/trace-context/): a command's
 * traceparent continues in its events with the same trace id and flags and
 * a span id of their own. Pure string work: the codec reads and writes the
 * headers and attributes.
 */
#ifndef PW_DOMAIN_TRACE_H
#define PW_DOMAIN_TRACE_H

#include <stdbool.h>
#include <stddef.h>

/* "00-" 32 hex "-" 16 hex "-" 2 hex */
#define PW_TRACEPARENT_LEN 55
/* The W3C's limit on what a vendor must pass on. */
#define PW_TRACESTATE_MAX 512

/*
 * True for a version-00 traceparent this worker continues: lowercase hex,
 * neither the trace id nor the parent id all zeros.
 */
bool pw_trace_parent_ok(const char *s, size_t len);

/* True for a tracestate passed on as it is: 1 to PW_TRACESTATE_MAX printable ASCII characters. */
bool pw_trace_state_ok(const char *s, size_t len);

/*
 * The traceparent of an event of parent's: its trace id and flags, and a
 * span id from the event's id (its first 16 hex digits), so that a replay
 * gives the same span ids.
 */
void pw_trace_child(const char *parent, const char *event_id, char out[PW_TRACEPARENT_LEN + 1]);

#endif
