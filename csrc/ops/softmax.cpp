// PLACEHOLDER: softmax / log_softmax kernels land here.
#include "common.h"
