/* The run layer's header. */
#include "engine/call.h"
