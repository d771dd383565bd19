// Built only by the ctest include_roots_let_a_layer_include_below_it: what the engine may include
// (base/) is on its include path, so the probe above fails for the layer rule alone.
#include "base/status.h"
#include "engine/keyring.h"
