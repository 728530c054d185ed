// Bindings for csrc/ops/rnn.cpp: whole-sequence LSTM / GRU / Elman RNN, one layer, one direction.
// Checks every dtype, contiguity and shape, allocates fresh outputs (the (T, N, *) ones in blocks
// kept between calls: seq_empty), releases the GIL.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "bind_util.h"

namespace ember {

// csrc/ops/rnn.cpp (see the shape contracts there).
template <typename T>
void lstm_forward(T* y, T* h_n, T* c_n, T* gates, T* cells, T* hid, const T* x, const T* h0,
                  const T* c0, const T* w_ih, const T* w_hh, const T* b_ih, const T* b_hh,
                  const T* w_hr, const int64_t* lengths, int64_t T_, int64_t N, int64_t I,
                  int64_t H, int64_t P, bool reverse);
template <typename T>
void lstm_backward(T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* dw_hr, T* db_ih, T* db_hh,
                   const T* dy, const T* dh_n, const T* dc_n, const T* x, const T* h0, const T* c0,
                   const T* w_ih, const T* w_hh, const T* w_hr, const T* y, const T* gates,
                   const T* cells, const T* hid, const int64_t* lengths, int64_t T_, int64_t N,
                   int64_t I, int64_t H, int64_t P, bool reverse, bool want_dh0, int64_t dy_st,
                   int64_t dy_sn);
template <typename T>
void gru_forward(T* y, T* h_n, T* gates, T* hn, const T* x, const T* h0, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const int64_t* lengths, int64_t T_,
                 int64_t N, int64_t I, int64_t H, bool reverse);
template <typename T>
void gru_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy, const T* dh_n,
                  const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* y, const T* gates,
                  const T* hn, const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H,
                  bool reverse, bool want_dh0, int64_t dy_st, int64_t dy_sn);
template <typename T>
void rnn_forward(T* y, T* h_n, const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* b_ih,
                 const T* b_hh, const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H,
                 bool reverse, bool relu);
template <typename T>
void rnn_backward(T* dx, T* dh0, T* dw_ih, T* dw_hh, T* db_ih, T* db_hh, const T* dy, const T* dh_n,
                  const T* x, const T* h0, const T* w_ih, const T* w_hh, const T* y,
                  const int64_t* lengths, int64_t T_, int64_t N, int64_t I, int64_t H, bool reverse,
                  bool relu, bool want_dh0, int64_t dy_st, int64_t dy_sn);

namespace {

// Sizes of one call: T steps, N batch, I input, H hidden, G gates, P the width of the state h
// and the output (the LSTM's proj_size; H otherwise).
struct Dims {
  int64_t T, N, I, H, G, P;
  int64_t GH() const { return G * H; }
};

// A float array of x's dtype, C-contiguous, of exactly `shape`.
void check_arg(const py::array& a, const py::array& x, const std::vector<int64_t>& shape,
               const char* op, const char* name) {
  require_float(a, op, name);
  require_same_dtype(x, a, op);
  require_shape(a, shape, op, name);
  require_contiguous(a, op, name);
}

// x (T, N, I), w_ih (G*H, I), w_hh (G*H, H): the sizes every other shape is checked against.
// With the LSTM's w_hr (P, H) (projections): w_hh (G*H, P).
Dims check_core(const py::array& x, const py::array& w_ih, const py::array& w_hh, int64_t G,
                const char* op, const py::array* w_hr = nullptr) {
  require_float(x, op, "x");
  require_float(w_ih, op, "w_ih");
  require_float(w_hh, op, "w_hh");
  require_same_dtype(x, w_ih, op);
  require_same_dtype(x, w_hh, op);
  EMBER_CHECK(x.ndim() == 3, op, ": x must be 3-D (T, N, input_size), got shape ",
              shape_str(shape_of(x)));
  int64_t H = 0, P = 0;
  if (w_hr) {
    require_float(*w_hr, op, "w_hr");
    require_same_dtype(x, *w_hr, op);
    EMBER_CHECK(w_hr->ndim() == 2 && w_hr->shape(0) >= 1 && w_hr->shape(1) >= 1, op,
                ": w_hr must have shape (proj_size, hidden_size), got ",
                shape_str(shape_of(*w_hr)));
    P = w_hr->shape(0);
    H = w_hr->shape(1);
    EMBER_CHECK(w_hh.ndim() == 2 && w_hh.shape(0) == G * H && w_hh.shape(1) == P, op,
                ": w_hh must have shape ", shape_str({G * H, P}), " for w_hr of shape ",
                shape_str({P, H}), ", got ", shape_str(shape_of(w_hh)));
    require_contiguous(*w_hr, op, "w_hr");
  } else {
    EMBER_CHECK(w_hh.ndim() == 2 && w_hh.shape(0) == G * w_hh.shape(1) && w_hh.shape(1) >= 1, op,
                ": w_hh must have shape (", G, "*hidden_size, hidden_size), got ",
                shape_str(shape_of(w_hh)));
    H = P = w_hh.shape(1);
  }
  Dims d{x.shape(0), x.shape(1), x.shape(2), H, G, P};
  // An empty batch (N = 0) is allowed, as PyTorch allows it: empty outputs, zero weight grads.
  EMBER_CHECK(d.T >= 1 && d.I >= 1, op, ": x must have at least one step and feature, got shape ",
              shape_str(shape_of(x)));
  EMBER_CHECK(w_ih.ndim() == 2 && w_ih.shape(0) == d.GH() && w_ih.shape(1) == d.I, op,
              ": w_ih must have shape ", shape_str({d.GH(), d.I}), " for x of shape ",
              shape_str(shape_of(x)), " and hidden_size ", d.H, ", got ",
              shape_str(shape_of(w_ih)));
  require_contiguous(x, op, "x");
  require_contiguous(w_ih, op, "w_ih");
  require_contiguous(w_hh, op, "w_hh");
  numel_checked({d.T, d.N, d.GH()}, op);
  numel_checked({d.T, d.N, d.I}, op);
  numel_checked({d.T, d.N, d.P}, op);
  return d;
}

// An optional state / gradient of shape `shape`: null pointer when None.
const void* optional_arg(const py::object& o, const py::array& x, const std::vector<int64_t>& shape,
                         const char* op, const char* name) {
  if (o.is_none()) return nullptr;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(op) + ": " + name + " must be a NumPy array or None");
  const py::array a = py::reinterpret_borrow<py::array>(o);
  check_arg(a, x, shape, op, name);
  return a.data();
}

// The output gradient dy (T, N, W) or None (null): rows of W contiguous elements, read in place
// at any non-negative step and row strides (a slice of the joined directions' gradient, a
// batch_first one transposed), which go to *st and *sn in elements.
struct DyArg {
  const void* p = nullptr;
  int64_t st = 0, sn = 0;
};
DyArg dy_arg(const py::object& o, const py::array& x, int64_t T, int64_t N, int64_t W,
             const char* op) {
  if (o.is_none()) return {};
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(op) + ": dy must be a NumPy array or None");
  const py::array a = py::reinterpret_borrow<py::array>(o);
  require_float(a, op, "dy");
  require_same_dtype(x, a, op);
  require_shape(a, {T, N, W}, op, "dy");
  const int64_t e = a.itemsize();
  const int64_t s0 = a.strides(0), s1 = a.strides(1), s2 = a.strides(2);
  EMBER_CHECK(a.size() == 0 || ((W <= 1 || s2 == e) && s0 >= 0 && s1 >= 0 && s0 % e == 0 &&
                                s1 % e == 0 && reinterpret_cast<std::uintptr_t>(a.data()) % e == 0),
              op, ": dy must have contiguous rows and non-negative strides, got strides (", s0,
              ", ", s1, ", ", s2, ")");
  return {a.data(), s0 / e, s1 / e};
}

// lengths: None or int64 (N,) with values in [1, T].
const int64_t* check_lengths(const py::object& o, const Dims& d, const char* op) {
  if (o.is_none()) return nullptr;
  if (!py::isinstance<py::array>(o))
    throw py::type_error(std::string(op) + ": lengths must be a NumPy int64 array or None");
  const py::array a = py::reinterpret_borrow<py::array>(o);
  if (!same_dtype(a.dtype(), py::dtype::of<int64_t>()))
    throw py::type_error(std::string(op) + ": lengths must be int64, got " +
                         std::string(py::str(a.dtype())));
  require_shape(a, {d.N}, op, "lengths");
  require_contiguous(a, op, "lengths");
  const int64_t* l = static_cast<const int64_t*>(a.data());
  for (int64_t n = 0; n < d.N; ++n)
    EMBER_CHECK(l[n] >= 1 && l[n] <= d.T, op, ": lengths must lie in [1, T] = [1, ", d.T,
                "], got lengths[", n, "] = ", l[n]);
  return l;
}

// b_ih, b_hh: both None or both (G*H,) arrays.
std::pair<const void*, const void*> check_biases(const py::object& b_ih, const py::object& b_hh,
                                                 const py::array& x, const Dims& d,
                                                 const char* op) {
  EMBER_CHECK(b_ih.is_none() == b_hh.is_none(), op,
              ": b_ih and b_hh must both be arrays or both be None");
  return {optional_arg(b_ih, x, {d.GH()}, op, "b_ih"), optional_arg(b_hh, x, {d.GH()}, op, "b_hh")};
}

template <typename T>
const T* cp(const void* p) {
  return static_cast<const T*>(p);
}
template <typename T>
T* mp(const py::object& o) {
  if (o.is_none()) return nullptr;
  py::array a = py::reinterpret_borrow<py::array>(o);
  return ptr<T>(a);
}

// An empty batch (N = 0) has nothing to compute, but the time loop would still run its T steps
// (an empty x of T = 2^40 steps hung): the outputs are empty, the weight gradients zeros.
void zero_fill(std::initializer_list<py::object> arrays) {
  for (const py::object& o : arrays)
    if (!o.is_none()) {
      py::array a = py::reinterpret_borrow<py::array>(o);
      std::memset(a.mutable_data(), 0, static_cast<size_t>(a.nbytes()));
    }
}

// Fresh C-contiguous (T, N, *) arrays of x's dtype (outputs, saved gates, gradients of x) come
// from blocks kept between calls: a training loop frees a step's arrays and asks for the same
// sizes again, and a block reused has its pages mapped already. Fresh multi-megabyte arrays are
// fresh pages, and (NumPy advises huge pages there; THP "madvise" here) their first touch may
// stall in compaction, worst right after another library freed big buffers: LSTM
// 100,64,256,512 forward with saves, 1 thread, 205 ms to 310 ms a call with the machine's state,
// the kernel alone ~200 ms. At most kPoolBlocks blocks and kPoolBytes are kept (the GIL guards
// the pool: arrays are made and freed holding it).
constexpr size_t kPoolBlocks = 16, kPoolBytes = size_t(256) << 20, kHeader = 64;
struct SeqPool {
  std::vector<std::pair<size_t, unsigned char*>> free;  // (bytes, block)
  size_t held = 0;
};
static SeqPool& seq_pool() {
  static SeqPool* p = new SeqPool;  // never destroyed: arrays may outlive static destructors
  return *p;
}
static void seq_release(void* data) {
  unsigned char* b = static_cast<unsigned char*>(data) - kHeader;
  size_t bytes;
  std::memcpy(&bytes, b, sizeof bytes);
  SeqPool& pool = seq_pool();
  if (pool.free.size() < kPoolBlocks && pool.held + bytes <= kPoolBytes) {
    pool.free.emplace_back(bytes, b);
    pool.held += bytes;
  } else {
    std::free(b);
  }
}
static py::array seq_empty(const py::array& x, const std::vector<int64_t>& shape) {
  size_t bytes = static_cast<size_t>(x.itemsize());
  for (const int64_t v : shape) bytes *= static_cast<size_t>(v);
  bytes = (bytes + kHeader - 1) / kHeader * kHeader;
  SeqPool& pool = seq_pool();
  unsigned char* b = nullptr;
  for (size_t k = pool.free.size(); k-- > 0;)
    if (pool.free[k].first == bytes) {
      b = pool.free[k].second;
      pool.held -= bytes;
      pool.free.erase(pool.free.begin() + static_cast<std::ptrdiff_t>(k));
      break;
    }
  if (!b) b = static_cast<unsigned char*>(std::aligned_alloc(64, kHeader + bytes));
  if (!b) throw out_of_memory("rnn: cannot allocate " + std::to_string(bytes) + " bytes");
  std::memcpy(b, &bytes, sizeof bytes);
  const py::capsule owner(b + kHeader, seq_release);
  return py::array(x.dtype(), std::vector<py::ssize_t>(shape.begin(), shape.end()), b + kHeader,
                   owner);
}

// The weight and bias gradients of a backward, dW_ih (G*H, I), dW_hh (G*H, P), db_ih, db_hh (G*H):
// fresh arrays, or None when not wanted (need_dw false: frozen weights, the kernel skips their
// products) and for the biases without has_bias.
struct WeightGrads {
  py::object w_ih, w_hh, b_ih, b_hh;
  WeightGrads(const py::array& x, const Dims& d, bool need_dw, bool has_bias, int64_t P) {
    const auto make = [&](bool want, std::vector<int64_t> shape) {
      return want ? py::object(empty_like_dtype(x, std::move(shape))) : py::none();
    };
    w_ih = make(need_dw, {d.GH(), d.I});
    w_hh = make(need_dw, {d.GH(), P});
    b_ih = make(need_dw && has_bias, {d.GH()});
    b_hh = make(need_dw && has_bias, {d.GH()});
  }
};

// ---- LSTM ----------------------------------------------------------------------------------

// w_hr: None (no projections) or a (P, H) array.
std::optional<py::array> lstm_w_hr(const py::object& w_hr, const char* op) {
  if (w_hr.is_none()) return std::nullopt;
  if (!py::isinstance<py::array>(w_hr))
    throw py::type_error(std::string(op) + ": w_hr must be a NumPy array or None");
  return py::reinterpret_borrow<py::array>(w_hr);
}

py::tuple lstm_forward_py(const py::array& x, const py::array& h0, const py::array& c0,
                          const py::array& w_ih, const py::array& w_hh, const py::object& b_ih,
                          const py::object& b_hh, const py::object& lengths, bool reverse,
                          const py::object& w_hr, bool save) {
  const char* op = "lstm_forward";
  const std::optional<py::array> whr_a = lstm_w_hr(w_hr, op);
  const bool proj = whr_a.has_value();
  const Dims d = check_core(x, w_ih, w_hh, 4, op, proj ? &*whr_a : nullptr);
  check_arg(h0, x, {d.N, d.P}, op, "h0");
  check_arg(c0, x, {d.N, d.H}, op, "c0");
  const auto bias = check_biases(b_ih, b_hh, x, d, op);
  const void *bi = bias.first, *bh = bias.second;
  const int64_t* len = check_lengths(lengths, d, op);
  py::array y = seq_empty(x, {d.T, d.N, d.P});
  py::array h_n = empty_like_dtype(x, {d.N, d.P});
  py::array c_n = empty_like_dtype(x, {d.N, d.H});
  // save = false (no gradient wanted): no gates / cells to return, the kernel keeps them in
  // workspaces (hid, with projections, is still made: the kernel writes every step's there).
  const auto saved = [&](std::vector<int64_t> shape) {
    return save ? py::object(seq_empty(x, shape)) : py::none();
  };
  py::object gates = saved({d.T, d.N, d.GH()});
  py::object cells = saved({d.T, d.N, d.H});
  py::object hid = proj ? py::object(seq_empty(x, {d.T, d.N, d.H})) : py::none();
  const void* whr = proj ? whr_a->data() : nullptr;
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *py_ = ptr<T>(y), *hn = ptr<T>(h_n), *cn = ptr<T>(c_n), *g = mp<T>(gates), *cs = mp<T>(cells),
      *hd = mp<T>(hid);
    py::gil_scoped_release release;
    lstm_forward<T>(py_, hn, cn, g, cs, hd, cptr<T>(x), cptr<T>(h0), cptr<T>(c0), cptr<T>(w_ih),
                    cptr<T>(w_hh), cp<T>(bi), cp<T>(bh), cp<T>(whr), len, d.T, d.N, d.I, d.H, d.P,
                    reverse);
  };
  if (d.N == 0) return py::make_tuple(y, h_n, c_n, gates, cells, hid);
  if (is_f32(x))
    run(float{});
  else
    run(double{});
  return py::make_tuple(y, h_n, c_n, gates, cells, hid);
}

py::tuple lstm_backward_py(const py::object& dy, const py::object& dh_n, const py::object& dc_n,
                           const py::array& x, const py::array& h0, const py::array& c0,
                           const py::array& w_ih, const py::array& w_hh, bool has_bias,
                           const py::object& lengths, bool reverse, const py::array& y,
                           const py::array& gates, const py::array& cells, const py::object& w_hr,
                           const py::object& hid, bool need_dx, bool need_dh0, bool need_dw) {
  const char* op = "lstm_backward";
  const std::optional<py::array> whr_a = lstm_w_hr(w_hr, op);
  const bool proj = whr_a.has_value();
  const Dims d = check_core(x, w_ih, w_hh, 4, op, proj ? &*whr_a : nullptr);
  EMBER_CHECK(proj != hid.is_none(), op, ": w_hr and hid must both be arrays or both be None");
  check_arg(h0, x, {d.N, d.P}, op, "h0");
  check_arg(c0, x, {d.N, d.H}, op, "c0");
  check_arg(y, x, {d.T, d.N, d.P}, op, "y");
  check_arg(gates, x, {d.T, d.N, d.GH()}, op, "gates");
  check_arg(cells, x, {d.T, d.N, d.H}, op, "cells");
  const void* hidp = optional_arg(hid, x, {d.T, d.N, d.H}, op, "hid");
  const DyArg dya = dy_arg(dy, x, d.T, d.N, d.P, op);
  const void* dhp = optional_arg(dh_n, x, {d.N, d.P}, op, "dh_n");
  const void* dcp = optional_arg(dc_n, x, {d.N, d.H}, op, "dc_n");
  const int64_t* len = check_lengths(lengths, d, op);
  const void* whr = proj ? whr_a->data() : nullptr;
  // (dx not wanted: None, its GEMM skipped; dh0 not wanted: None, the last step's GEMM skipped;
  // weights not wanted: their gradients None, their GEMMs skipped)
  py::object dx = need_dx ? py::object(seq_empty(x, {d.T, d.N, d.I})) : py::none();
  py::array dh0 = empty_like_dtype(x, {d.N, d.P});
  py::array dc0 = empty_like_dtype(x, {d.N, d.H});
  const WeightGrads w(x, d, need_dw, has_bias, d.P);
  py::object dw_hr = need_dw && proj ? py::object(empty_like_dtype(x, {d.P, d.H})) : py::none();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *a = mp<T>(dx), *b = ptr<T>(dh0), *c = ptr<T>(dc0), *e = mp<T>(w.w_ih), *f = mp<T>(w.w_hh),
      *r = mp<T>(dw_hr), *g = mp<T>(w.b_ih), *h = mp<T>(w.b_hh);
    py::gil_scoped_release release;
    lstm_backward<T>(a, b, c, e, f, r, g, h, cp<T>(dya.p), cp<T>(dhp), cp<T>(dcp), cptr<T>(x),
                     cptr<T>(h0), cptr<T>(c0), cptr<T>(w_ih), cptr<T>(w_hh), cp<T>(whr), cptr<T>(y),
                     cptr<T>(gates), cptr<T>(cells), cp<T>(hidp), len, d.T, d.N, d.I, d.H, d.P,
                     reverse, need_dh0, dya.st, dya.sn);
  };
  if (d.N == 0) {
    zero_fill({w.w_ih, w.w_hh, w.b_ih, w.b_hh, dw_hr});
  } else if (is_f32(x)) {
    run(float{});
  } else {
    run(double{});
  }
  return py::make_tuple(dx, need_dh0 ? py::object(dh0) : py::none(), dc0, w.w_ih, w.w_hh, w.b_ih,
                        w.b_hh, dw_hr);
}

// ---- GRU ------------------------------------------------------------------------------------

py::tuple gru_forward_py(const py::array& x, const py::array& h0, const py::array& w_ih,
                         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                         const py::object& lengths, bool reverse, bool save) {
  const char* op = "gru_forward";
  const Dims d = check_core(x, w_ih, w_hh, 3, op);
  check_arg(h0, x, {d.N, d.H}, op, "h0");
  const auto bias = check_biases(b_ih, b_hh, x, d, op);
  const void *bi = bias.first, *bh = bias.second;
  const int64_t* len = check_lengths(lengths, d, op);
  py::array y = seq_empty(x, {d.T, d.N, d.H});
  py::array h_n = empty_like_dtype(x, {d.N, d.H});
  // save = false: no gates / hn returned (as lstm_forward's).
  py::object gates = save ? py::object(seq_empty(x, {d.T, d.N, d.GH()})) : py::none();
  py::object hn = save ? py::object(seq_empty(x, {d.T, d.N, d.H})) : py::none();
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *a = ptr<T>(y), *b = ptr<T>(h_n), *g = mp<T>(gates), *h = mp<T>(hn);
    py::gil_scoped_release release;
    gru_forward<T>(a, b, g, h, cptr<T>(x), cptr<T>(h0), cptr<T>(w_ih), cptr<T>(w_hh), cp<T>(bi),
                   cp<T>(bh), len, d.T, d.N, d.I, d.H, reverse);
  };
  if (d.N == 0) return py::make_tuple(y, h_n, gates, hn);
  if (is_f32(x))
    run(float{});
  else
    run(double{});
  return py::make_tuple(y, h_n, gates, hn);
}

py::tuple gru_backward_py(const py::object& dy, const py::object& dh_n, const py::array& x,
                          const py::array& h0, const py::array& w_ih, const py::array& w_hh,
                          bool has_bias, const py::object& lengths, bool reverse,
                          const py::array& y, const py::array& gates, const py::array& hn,
                          bool need_dx, bool need_dh0, bool need_dw) {
  const char* op = "gru_backward";
  const Dims d = check_core(x, w_ih, w_hh, 3, op);
  check_arg(h0, x, {d.N, d.H}, op, "h0");
  check_arg(y, x, {d.T, d.N, d.H}, op, "y");
  check_arg(gates, x, {d.T, d.N, d.GH()}, op, "gates");
  check_arg(hn, x, {d.T, d.N, d.H}, op, "hn");
  const DyArg dya = dy_arg(dy, x, d.T, d.N, d.H, op);
  const void* dhp = optional_arg(dh_n, x, {d.N, d.H}, op, "dh_n");
  const int64_t* len = check_lengths(lengths, d, op);
  // (dx not wanted: None, its GEMM skipped; dh0 not wanted: None, the last step's GEMM skipped;
  // weights not wanted: their gradients None, their GEMMs skipped)
  py::object dx = need_dx ? py::object(seq_empty(x, {d.T, d.N, d.I})) : py::none();
  py::array dh0 = empty_like_dtype(x, {d.N, d.H});
  const WeightGrads w(x, d, need_dw, has_bias, d.H);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *a = mp<T>(dx), *b = ptr<T>(dh0), *e = mp<T>(w.w_ih), *f = mp<T>(w.w_hh), *g = mp<T>(w.b_ih),
      *h = mp<T>(w.b_hh);
    py::gil_scoped_release release;
    gru_backward<T>(a, b, e, f, g, h, cp<T>(dya.p), cp<T>(dhp), cptr<T>(x), cptr<T>(h0),
                    cptr<T>(w_ih), cptr<T>(w_hh), cptr<T>(y), cptr<T>(gates), cptr<T>(hn), len, d.T,
                    d.N, d.I, d.H, reverse, need_dh0, dya.st, dya.sn);
  };
  if (d.N == 0) {
    zero_fill({w.w_ih, w.w_hh, w.b_ih, w.b_hh});
  } else if (is_f32(x)) {
    run(float{});
  } else {
    run(double{});
  }
  return py::make_tuple(dx, need_dh0 ? py::object(dh0) : py::none(), w.w_ih, w.w_hh, w.b_ih,
                        w.b_hh);
}

// ---- Elman RNN ------------------------------------------------------------------------------

bool check_nonlinearity(const std::string& s, const char* op) {
  EMBER_CHECK(s == "tanh" || s == "relu", op, ": nonlinearity must be 'tanh' or 'relu', got '", s,
              "'");
  return s == "relu";
}

py::tuple rnn_forward_py(const py::array& x, const py::array& h0, const py::array& w_ih,
                         const py::array& w_hh, const py::object& b_ih, const py::object& b_hh,
                         const py::object& lengths, bool reverse, const std::string& nonlinearity) {
  const char* op = "rnn_forward";
  const bool relu = check_nonlinearity(nonlinearity, op);
  const Dims d = check_core(x, w_ih, w_hh, 1, op);
  check_arg(h0, x, {d.N, d.H}, op, "h0");
  const auto bias = check_biases(b_ih, b_hh, x, d, op);
  const void *bi = bias.first, *bh = bias.second;
  const int64_t* len = check_lengths(lengths, d, op);
  py::array y = seq_empty(x, {d.T, d.N, d.H});
  py::array h_n = empty_like_dtype(x, {d.N, d.H});
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *a = ptr<T>(y), *b = ptr<T>(h_n);
    py::gil_scoped_release release;
    rnn_forward<T>(a, b, cptr<T>(x), cptr<T>(h0), cptr<T>(w_ih), cptr<T>(w_hh), cp<T>(bi),
                   cp<T>(bh), len, d.T, d.N, d.I, d.H, reverse, relu);
  };
  if (d.N == 0) return py::make_tuple(y, h_n);
  if (is_f32(x))
    run(float{});
  else
    run(double{});
  return py::make_tuple(y, h_n);
}

py::tuple rnn_backward_py(const py::object& dy, const py::object& dh_n, const py::array& x,
                          const py::array& h0, const py::array& w_ih, const py::array& w_hh,
                          bool has_bias, const py::object& lengths, bool reverse,
                          const std::string& nonlinearity, const py::array& y, bool need_dx,
                          bool need_dh0, bool need_dw) {
  const char* op = "rnn_backward";
  const bool relu = check_nonlinearity(nonlinearity, op);
  const Dims d = check_core(x, w_ih, w_hh, 1, op);
  check_arg(h0, x, {d.N, d.H}, op, "h0");
  check_arg(y, x, {d.T, d.N, d.H}, op, "y");
  const DyArg dya = dy_arg(dy, x, d.T, d.N, d.H, op);
  const void* dhp = optional_arg(dh_n, x, {d.N, d.H}, op, "dh_n");
  const int64_t* len = check_lengths(lengths, d, op);
  // (dx not wanted: None, its GEMM skipped; dh0 not wanted: None, the last step's GEMM skipped;
  // weights not wanted: their gradients None, their GEMMs skipped)
  py::object dx = need_dx ? py::object(seq_empty(x, {d.T, d.N, d.I})) : py::none();
  py::array dh0 = empty_like_dtype(x, {d.N, d.H});
  const WeightGrads w(x, d, need_dw, has_bias, d.H);
  auto run = [&](auto tag) {
    using T = decltype(tag);
    T *a = mp<T>(dx), *b = ptr<T>(dh0), *e = mp<T>(w.w_ih), *f = mp<T>(w.w_hh), *g = mp<T>(w.b_ih),
      *h = mp<T>(w.b_hh);
    py::gil_scoped_release release;
    rnn_backward<T>(a, b, e, f, g, h, cp<T>(dya.p), cp<T>(dhp), cptr<T>(x), cptr<T>(h0),
                    cptr<T>(w_ih), cptr<T>(w_hh), cptr<T>(y), len, d.T, d.N, d.I, d.H, reverse,
                    relu, need_dh0, dya.st, dya.sn);
  };
  if (d.N == 0) {
    zero_fill({w.w_ih, w.w_hh, w.b_ih, w.b_hh});
  } else if (is_f32(x)) {
    run(float{});
  } else {
    run(double{});
  }
  return py::make_tuple(dx, need_dh0 ? py::object(dh0) : py::none(), w.w_ih, w.w_hh, w.b_ih,
                        w.b_hh);
}

}  // namespace

void bind_rnn(py::module_& m) {
  m.def("lstm_forward", &lstm_forward_py, py::arg("x"), py::arg("h0"), py::arg("c0"),
        py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih") = py::none(),
        py::arg("b_hh") = py::none(), py::arg("lengths") = py::none(), py::arg("reverse") = false,
        py::arg("w_hr") = py::none(), py::arg("save") = true,
        "One LSTM layer, one direction, over a whole sequence. x (T, N, I), h0/c0 (N, H), "
        "w_ih (4H, I), w_hh (4H, H), b_ih/b_hh (4H,) or None, lengths int64 (N,) or None, "
        "w_hr (P, H) or None -> (y (T, N, H), h_n (N, H), c_n (N, H), gates (T, N, 4H), "
        "cells (T, N, H), hid None). With w_hr (projections): h0, h_n (N, P), w_hh (4H, P), "
        "y (T, N, P), hid (T, N, H) the unprojected output. save=False (no gradient "
        "wanted): gates and cells are None.");
  m.def("lstm_backward", &lstm_backward_py, py::arg("dy"), py::arg("dh_n"), py::arg("dc_n"),
        py::arg("x"), py::arg("h0"), py::arg("c0"), py::arg("w_ih"), py::arg("w_hh"),
        py::arg("has_bias"), py::arg("lengths"), py::arg("reverse"), py::arg("y"), py::arg("gates"),
        py::arg("cells"), py::arg("w_hr") = py::none(), py::arg("hid") = py::none(),
        py::arg("need_dx") = true, py::arg("need_dh0") = true, py::arg("need_dw") = true,
        "Backward of lstm_forward (dy/dh_n/dc_n may be None) -> (dx, dh0, dc0, dw_ih, dw_hh, "
        "db_ih, db_hh, dw_hr); db_* are None when has_bias is False, dw_hr when w_hr is None, dx / "
        "dh0 when need_dx / need_dh0 is False, the weight and bias gradients when need_dw is "
        "False (their GEMMs skipped; x, h0, y and hid are then not read).");
  m.def("gru_forward", &gru_forward_py, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih") = py::none(), py::arg("b_hh") = py::none(),
        py::arg("lengths") = py::none(), py::arg("reverse") = false, py::arg("save") = true,
        "One GRU layer, one direction. x (T, N, I), h0 (N, H), w_ih (3H, I), w_hh (3H, H), "
        "b_ih/b_hh (3H,) or None, lengths int64 (N,) or None -> (y (T, N, H), h_n (N, H), "
        "gates (T, N, 3H), hn (T, N, H)); save=False: gates and hn are None.");
  m.def("gru_backward", &gru_backward_py, py::arg("dy"), py::arg("dh_n"), py::arg("x"),
        py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("has_bias"), py::arg("lengths"),
        py::arg("reverse"), py::arg("y"), py::arg("gates"), py::arg("hn"),
        py::arg("need_dx") = true, py::arg("need_dh0") = true, py::arg("need_dw") = true,
        "Backward of gru_forward (dy/dh_n may be None) -> (dx, dh0, dw_ih, dw_hh, db_ih, "
        "db_hh); db_* are None when has_bias is False, dx / dh0 when need_dx / need_dh0 is "
        "False, dw_* and db_* when need_dw is False (their GEMMs skipped; x is then not read).");
  m.def("rnn_forward", &rnn_forward_py, py::arg("x"), py::arg("h0"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih") = py::none(), py::arg("b_hh") = py::none(),
        py::arg("lengths") = py::none(), py::arg("reverse") = false,
        py::arg("nonlinearity") = "tanh",
        "One Elman RNN layer (tanh or relu), one direction. x (T, N, I), h0 (N, H), "
        "w_ih (H, I), w_hh (H, H), b_ih/b_hh (H,) or None, lengths int64 (N,) or None -> "
        "(y (T, N, H), h_n (N, H)).");
  m.def("rnn_backward", &rnn_backward_py, py::arg("dy"), py::arg("dh_n"), py::arg("x"),
        py::arg("h0"), py::arg("w_ih"), py::arg("w_hh"), py::arg("has_bias"), py::arg("lengths"),
        py::arg("reverse"), py::arg("nonlinearity"), py::arg("y"), py::arg("need_dx") = true,
        py::arg("need_dh0") = true, py::arg("need_dw") = true,
        "Backward of rnn_forward (dy/dh_n may be None) -> (dx, dh0, dw_ih, dw_hh, db_ih, "
        "db_hh); db_* are None when has_bias is False, dx / dh0 when need_dx / need_dh0 is "
        "False, dw_* and db_* when need_dw is False (their GEMMs skipped; x and h0 are then not "
        "read).");
}

}  // namespace ember
