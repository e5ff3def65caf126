/*
 * Event ids as name-based UUIDs (version 5, SHA-1) from libuuid.
 */
#ifndef PW_ADAPTERS_UUID_IDS_UUID_H
#define PW_ADAPTERS_UUID_IDS_UUID_H

#include "ports/ids.h"

/* Fills in ids; it holds no state, so it cannot fail and close is a no-op. */
void pw_uuid_ids_open(struct pw_ids *ids);

#endif
