/*
 * The clock port on the operating system: CLOCK_MONOTONIC, and sleeps in
 * slices short enough to notice a stop.
 */
#ifndef PW_ADAPTERS_POSIX_CLOCK_POSIX_H
#define PW_ADAPTERS_POSIX_CLOCK_POSIX_H

#include "ports/clock.h"

/* The process's clock; it needs no closing. */
struct pw_clock pw_posix_clock(void);

#endif
