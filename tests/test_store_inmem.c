/* The store contract against the in-memory adapter, and through the fault wrapper. */
#include "tests/helpers.h"

#define STORE_SUITE_NAME store_inmem
#define STORE_ADAPTER store_inmem_adapter
STORE_CONTRACT_SUITE()
#undef STORE_SUITE_NAME
#undef STORE_ADAPTER

/* The same cases with the fault wrapper in between and no fault planned. */
#define STORE_SUITE_NAME store_fault
#define STORE_ADAPTER store_fault_adapter
STORE_CONTRACT_SUITE()
