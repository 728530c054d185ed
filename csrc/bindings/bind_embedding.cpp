// Bindings for csrc/ops/embedding.cpp.
//
//   embedding_backward(indices (n,) int64, grad (n, D), num_embeddings, padding_idx) -> dw (V, D)
//   index_add_rows(out (V, D), indices (n,) int64, src (n, D)) -> None    out[idx[i]] += src[i]
#include "bind_util.h"

namespace ember {

// csrc/ops/embedding.cpp (instantiated there for float and double).
template <typename T>
void embedding_backward(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx);
template <typename T>
void scatter_add_rows(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t D,
                      int64_t padding_idx);

namespace {

// The row numbers both kernels take: a contiguous 1-D int64 array (ranges checked by each).
void require_row_indices(const py::array& indices, const char* op) {
  if (!same_dtype(indices.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": indices must be int64, got " +
                         std::string(py::str(indices.dtype())));
  require_ndim(indices, 1, op, "indices");
  require_contiguous(indices, op, "indices");
}

py::array backward_py(const py::array& indices, const py::array& grad, int64_t num_embeddings,
                      int64_t padding_idx) {
  const char* op = "embedding_backward";
  require_row_indices(indices, op);
  require_float(grad, op, "grad");
  require_ndim(grad, 2, op, "grad");
  require_contiguous(grad, op, "grad");
  const int64_t n = indices.shape(0), D = grad.shape(1), V = num_embeddings;
  EMBER_CHECK(grad.shape(0) == n, op, ": grad has ", grad.shape(0), " rows for ", n, " indices");
  EMBER_CHECK(V >= 0, op, ": num_embeddings must be >= 0, got ", V);
  EMBER_CHECK(padding_idx >= -1 && padding_idx < std::max<int64_t>(V, 1), op,
              ": padding_idx must be in [0, ", V, ") or -1 for none, got ", padding_idx);
  numel_checked({V, D}, op);
  const int64_t* ip = cptr<int64_t>(indices);
  for (int64_t i = 0; i < n; ++i)
    EMBER_CHECK(ip[i] >= 0 && ip[i] < V, op, ": index ", ip[i], " is out of range for ", V,
                " embeddings");
  py::array dw = empty_like_dtype(grad, {V, D});
  // Everything that touches Python objects (dtype checks, data pointers) before the release.
  const bool f32 = is_f32(grad);
  void* out = dw.mutable_data();
  const void* in = grad.data();
  {
    py::gil_scoped_release release;
    if (f32)
      embedding_backward<float>(static_cast<float*>(out), ip, static_cast<const float*>(in), n, V,
                                D, padding_idx);
    else
      embedding_backward<double>(static_cast<double*>(out), ip, static_cast<const double*>(in), n,
                                 V, D, padding_idx);
  }
  return dw;
}

// torch.index_add along dim 0 of a 2-D view, in place: out[idx[i]] += src[i] for i in order
// (repeated indices add up one after another, as PyTorch's CPU loop).
void index_add_rows_py(py::array& out, const py::array& indices, const py::array& src) {
  const char* op = "index_add_rows";
  require_row_indices(indices, op);
  require_float(out, op, "out");
  require_ndim(out, 2, op, "out");
  require_contiguous(out, op, "out");
  require_writeable(out, op, "out");
  require_same_dtype(out, src, op);
  const int64_t n = indices.shape(0), V = out.shape(0), D = out.shape(1);
  require_shape(src, {n, D}, op, "src");
  require_contiguous(src, op, "src");
  const int64_t* ip = cptr<int64_t>(indices);
  for (int64_t i = 0; i < n; ++i)
    if (ip[i] < 0 || ip[i] >= V)
      throw py::index_error(
          detail::concat(op, ": index ", ip[i], " is out of range for ", V, " rows"));
  require_no_overlap(out, src, op, "out", "src", false);
  // The indices were range-checked above: rows written into their memory would change them
  // under the kernel (an index turned garbage wrote out of bounds).
  require_no_overlap(out, indices, op, "out", "indices", false);
  const bool f32 = is_f32(out);
  void* o = out.mutable_data();
  const void* s = src.data();
  py::gil_scoped_release release;
  if (f32)
    scatter_add_rows<float>(static_cast<float*>(o), ip, static_cast<const float*>(s), n, D, -1);
  else
    scatter_add_rows<double>(static_cast<double*>(o), ip, static_cast<const double*>(s), n, D, -1);
}

}  // namespace

void bind_embedding(py::module_& m) {
  m.def("embedding_backward", &backward_py, py::arg("indices"), py::arg("grad"),
        py::arg("num_embeddings"), py::arg("padding_idx") = -1,
        "indices (n,) int64 in [0, V), grad (n, D) float -> dw (V, D): grad's rows added into the "
        "rows they index (in index order, deterministic); row padding_idx (or none: -1) is 0.");
  m.def("index_add_rows", &index_add_rows_py, py::arg("out"), py::arg("indices"), py::arg("src"),
        "out (V, D) float, writeable, indices (n,) int64 in [0, V), src (n, D) of out's dtype: "
        "out[indices[i]] += src[i] in place, in index order (deterministic).");
}

}  // namespace ember
