/* The dispatch contract on the in-memory store, the reference. */
#include "tests/dispatch_contract.h"

#define DISPATCH_SUITE_NAME dispatch_inmem
#define DISPATCH_ADAPTER store_inmem_adapter
DISPATCH_CONTRACT_SUITE()
