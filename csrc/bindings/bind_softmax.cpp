// PLACEHOLDER: bindings for csrc/ops/softmax.cpp.
#include "bind_util.h"

namespace ember {
void bind_softmax(py::module_&) {}
}  // namespace ember
