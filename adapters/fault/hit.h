/*
 * The call counter that both fault wrappers share (internal to adapters/fault).
 */
#ifndef PW_ADAPTERS_FAULT_HIT_H
#define PW_ADAPTERS_FAULT_HIT_H

#include "adapters/fault/fault.h"

/* Counts a call; true (with *rc and err set) if this one is to fail. */
bool fault_hit(struct pw_fault *plan, struct pw_errbuf *err, enum pw_err *rc);

#endif
