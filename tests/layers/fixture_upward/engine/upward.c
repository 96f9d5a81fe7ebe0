/* An engine file that reaches up into the run layer: check_layers.sh must refuse it. */
#include "run/run.h"
