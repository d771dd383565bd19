// Built only by the ctest include_roots_enforce_the_layers, which expects it not to build: the
// engine may not include the storage layer, and its include root does not hold db/.
#include "db/store.h"
