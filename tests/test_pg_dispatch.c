/* The dispatch contract on PostgreSQL: the same cases as on the in-memory store. */
#include "tests/dispatch_contract.h"

#define DISPATCH_SUITE_NAME dispatch_pg
#define DISPATCH_ADAPTER store_pg_adapter
DISPATCH_CONTRACT_SUITE()
