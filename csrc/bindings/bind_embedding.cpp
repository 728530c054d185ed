// Bindings for csrc/ops/embedding.cpp.
//
//   embedding_backward(indices (n,) int64, grad (n, D), num_embeddings, padding_idx) -> dw (V, D)
//   index_add_rows(out (V, D), indices (n,) int64, src (n, D)) -> None    out[idx[i]] += src[i]
//   embedding_bag_forward(weight (V, D), indices (T,) int64, bounds (B+1,) int64, padding_idx,
//                         mean) -> (B, D)
//   embedding_bag_backward(grad (B, D), indices, bounds, num_embeddings, padding_idx, mean)
//                         -> dw (V, D)
//   embedding_bag_max_forward(weight, indices, bounds, padding_idx) -> (out (B, D), arg (B, D))
//   embedding_bag_max_backward(grad (B, D), arg (B, D) int64, num_embeddings) -> dw (V, D)
#include "bind_util.h"

namespace ember {

// csrc/ops/embedding.cpp (instantiated there for float and double).
template <typename T>
void embedding_backward(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx);
template <typename T>
void scatter_add_rows(T* dw, const int64_t* idx, const T* g, int64_t n, int64_t D,
                      int64_t padding_idx);

template <typename T>
void embedding_bag_forward(T* out, const T* w, const int64_t* idx, const int64_t* bounds, int64_t B,
                           int64_t D, int64_t padding_idx, bool mean);
template <typename T>
void embedding_bag_backward(T* dw, const T* g, const int64_t* idx, const int64_t* bounds, int64_t B,
                            int64_t V, int64_t D, int64_t padding_idx, bool mean);
template <typename T>
void embedding_bag_max_forward(T* out, int64_t* arg, const T* w, const int64_t* idx,
                               const int64_t* bounds, int64_t B, int64_t D, int64_t padding_idx);
template <typename T>
void embedding_bag_max_backward(T* dw, const T* g, const int64_t* arg, int64_t B, int64_t V,
                                int64_t D);

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

// The bag bounds (B+1,) int64, non-decreasing within [0, T], and every index a bag reads in
// [0, V); padding_idx in [0, V) or -1. Returns B.
int64_t check_bags(const py::array& indices, const py::array& bounds, int64_t V,
                   int64_t padding_idx, const char* op) {
  require_row_indices(indices, op);
  if (!same_dtype(bounds.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": bounds must be int64, got " +
                         std::string(py::str(bounds.dtype())));
  require_ndim(bounds, 1, op, "bounds");
  require_contiguous(bounds, op, "bounds");
  EMBER_CHECK(bounds.shape(0) >= 1, op, ": bounds needs at least one entry (B+1), got 0");
  EMBER_CHECK(padding_idx >= -1 && padding_idx < std::max<int64_t>(V, 1), op,
              ": padding_idx must be in [0, ", V, ") or -1 for none, got ", padding_idx);
  const int64_t B = bounds.shape(0) - 1, T = indices.shape(0);
  const int64_t* bp = cptr<int64_t>(bounds);
  const int64_t* ip = cptr<int64_t>(indices);
  EMBER_CHECK(bp[0] >= 0 && bp[B] <= T, op, ": bounds must lie in [0, ", T, "], got ", bp[0],
              " .. ", bp[B]);
  for (int64_t b = 0; b < B; ++b)
    EMBER_CHECK(bp[b] <= bp[b + 1], op, ": bounds must be non-decreasing, got ", bp[b], " then ",
                bp[b + 1]);
  for (int64_t i = bp[0]; i < bp[B]; ++i)
    EMBER_CHECK(ip[i] >= 0 && ip[i] < V, op, ": index ", ip[i], " is out of range for ", V,
                " embeddings");
  return B;
}

py::array bag_forward_py(const py::array& weight, const py::array& indices, const py::array& bounds,
                         int64_t padding_idx, bool mean) {
  const char* op = "embedding_bag_forward";
  require_float(weight, op, "weight");
  require_ndim(weight, 2, op, "weight");
  require_contiguous(weight, op, "weight");
  const int64_t V = weight.shape(0), D = weight.shape(1);
  const int64_t B = check_bags(indices, bounds, V, padding_idx, op);
  numel_checked({B, D}, op);
  py::array out = empty_like_dtype(weight, {B, D});
  const bool f32 = is_f32(weight);
  void* o = out.mutable_data();
  const void* w = weight.data();
  const int64_t* ip = cptr<int64_t>(indices);
  const int64_t* bp = cptr<int64_t>(bounds);
  py::gil_scoped_release release;
  if (f32)
    embedding_bag_forward<float>(static_cast<float*>(o), static_cast<const float*>(w), ip, bp, B, D,
                                 padding_idx, mean);
  else
    embedding_bag_forward<double>(static_cast<double*>(o), static_cast<const double*>(w), ip, bp, B,
                                  D, padding_idx, mean);
  return out;
}

py::array bag_backward_py(const py::array& grad, const py::array& indices, const py::array& bounds,
                          int64_t num_embeddings, int64_t padding_idx, bool mean) {
  const char* op = "embedding_bag_backward";
  require_float(grad, op, "grad");
  require_ndim(grad, 2, op, "grad");
  require_contiguous(grad, op, "grad");
  const int64_t V = num_embeddings, D = grad.shape(1);
  EMBER_CHECK(V >= 0, op, ": num_embeddings must be >= 0, got ", V);
  const int64_t B = check_bags(indices, bounds, V, padding_idx, op);
  EMBER_CHECK(grad.shape(0) == B, op, ": grad has ", grad.shape(0), " rows for ", B, " bags");
  numel_checked({V, D}, op);
  py::array dw = empty_like_dtype(grad, {V, D});
  const bool f32 = is_f32(grad);
  void* o = dw.mutable_data();
  const void* g = grad.data();
  const int64_t* ip = cptr<int64_t>(indices);
  const int64_t* bp = cptr<int64_t>(bounds);
  py::gil_scoped_release release;
  if (f32)
    embedding_bag_backward<float>(static_cast<float*>(o), static_cast<const float*>(g), ip, bp, B,
                                  V, D, padding_idx, mean);
  else
    embedding_bag_backward<double>(static_cast<double*>(o), static_cast<const double*>(g), ip, bp,
                                   B, V, D, padding_idx, mean);
  return dw;
}

py::tuple bag_max_forward_py(const py::array& weight, const py::array& indices,
                             const py::array& bounds, int64_t padding_idx) {
  const char* op = "embedding_bag_max_forward";
  require_float(weight, op, "weight");
  require_ndim(weight, 2, op, "weight");
  require_contiguous(weight, op, "weight");
  const int64_t V = weight.shape(0), D = weight.shape(1);
  const int64_t B = check_bags(indices, bounds, V, padding_idx, op);
  numel_checked({B, D}, op);
  py::array out = empty_like_dtype(weight, {B, D});
  py::array_t<int64_t> arg({B, D});
  const bool f32 = is_f32(weight);
  void* o = out.mutable_data();
  int64_t* a = arg.mutable_data();
  const void* w = weight.data();
  const int64_t* ip = cptr<int64_t>(indices);
  const int64_t* bp = cptr<int64_t>(bounds);
  {
    py::gil_scoped_release release;
    if (f32)
      embedding_bag_max_forward<float>(static_cast<float*>(o), a, static_cast<const float*>(w), ip,
                                       bp, B, D, padding_idx);
    else
      embedding_bag_max_forward<double>(static_cast<double*>(o), a, static_cast<const double*>(w),
                                        ip, bp, B, D, padding_idx);
  }
  return py::make_tuple(out, arg);
}

py::array bag_max_backward_py(const py::array& grad, const py::array& arg, int64_t num_embeddings) {
  const char* op = "embedding_bag_max_backward";
  require_float(grad, op, "grad");
  require_ndim(grad, 2, op, "grad");
  require_contiguous(grad, op, "grad");
  if (!same_dtype(arg.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": arg must be int64, got " +
                         std::string(py::str(arg.dtype())));
  require_contiguous(arg, op, "arg");
  const int64_t B = grad.shape(0), D = grad.shape(1), V = num_embeddings;
  require_shape(arg, {B, D}, op, "arg");
  EMBER_CHECK(V >= 0, op, ": num_embeddings must be >= 0, got ", V);
  numel_checked({V, D}, op);
  const int64_t* ap = cptr<int64_t>(arg);
  for (int64_t k = 0; k < B * D; ++k)
    EMBER_CHECK(ap[k] >= -1 && ap[k] < V, op, ": arg ", ap[k], " is out of range for ", V,
                " embeddings");
  py::array dw = empty_like_dtype(grad, {V, D});
  const bool f32 = is_f32(grad);
  void* o = dw.mutable_data();
  const void* g = grad.data();
  py::gil_scoped_release release;
  if (f32)
    embedding_bag_max_backward<float>(static_cast<float*>(o), static_cast<const float*>(g), ap, B,
                                      V, D);
  else
    embedding_bag_max_backward<double>(static_cast<double*>(o), static_cast<const double*>(g), ap,
                                       B, V, D);
  return dw;
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
  m.def("embedding_bag_forward", &bag_forward_py, py::arg("weight"), py::arg("indices"),
        py::arg("bounds"), py::arg("padding_idx") = -1, py::arg("mean") = false,
        "weight (V, D) float, indices (T,) int64, bounds (B+1,) int64 -> (B, D): row b sums "
        "weight[indices[i]] over i in [bounds[b], bounds[b+1]) except padding_idx entries "
        "(mean: divided by their count; an empty bag: 0).");
  m.def("embedding_bag_backward", &bag_backward_py, py::arg("grad"), py::arg("indices"),
        py::arg("bounds"), py::arg("num_embeddings"), py::arg("padding_idx") = -1,
        py::arg("mean") = false,
        "grad (B, D) float, indices, bounds as embedding_bag_forward -> dw (V, D): its adjoint "
        "(grad rows, over the count for mean, added into the rows indexed, in order).");
  m.def("embedding_bag_max_forward", &bag_max_forward_py, py::arg("weight"), py::arg("indices"),
        py::arg("bounds"), py::arg("padding_idx") = -1,
        "as embedding_bag_forward but each bag's per-column max -> (out (B, D), arg (B, D) int64: "
        "the weight row of each max, the first on ties; -1 and 0 for an empty bag).");
  m.def("embedding_bag_max_backward", &bag_max_backward_py, py::arg("grad"), py::arg("arg"),
        py::arg("num_embeddings"),
        "grad (B, D), arg (B, D) from embedding_bag_max_forward -> dw (V, D): grad[b, j] added "
        "into dw[arg[b, j], j] (arg -1: skipped), bags in order.");
}

}  // namespace ember
