// Bindings for csrc/gemm: gemm (2-D, any row- or column-major strides), batched matmul.
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "bind_util.h"
#include "gemm/gemm.h"

namespace ember {

namespace {

// A 2-D operand as (pointer, leading dimension, transposed?) without copying: a row-major
// array with a row stride is used as is; a column-major one (a transposed view) flips trans.
struct Operand {
  const void* data;
  int64_t ld;
  bool trans;
};

Operand as_operand(const py::array& a, bool trans, const char* name) {
  const int64_t item = a.itemsize();
  const int64_t rows = a.shape(0), cols = a.shape(1);
  const int64_t s0 = a.strides(0), s1 = a.strides(1);
  // Strides of empty arrays and of length-1 dimensions carry no information.
  if (rows == 0 || cols == 0) return {a.data(), std::max<int64_t>(cols, 1), trans};
  if (s1 == item || cols == 1) {
    if (rows == 1) return {a.data(), cols, trans};
    if (s0 % item == 0 && s0 / item >= cols) return {a.data(), s0 / item, trans};
  }
  if (s0 == item || rows == 1) {
    if (cols == 1) return {a.data(), rows, !trans};
    if (s1 % item == 0 && s1 / item >= rows) return {a.data(), s1 / item, !trans};
  }
  EMBER_CHECK(false, "gemm: ", name, " must have unit stride along one dimension, got strides (",
              s0, ", ", s1, ")");
  return {};
}

template <typename T>
void run_gemm(const Operand& A, const Operand& B, py::array& c, int64_t M, int64_t N, int64_t K,
              double alpha, double beta) {
  T* C = ptr<T>(c);
  const T* a = static_cast<const T*>(A.data);
  const T* b = static_cast<const T*>(B.data);
  // Degenerate leading dimensions (empty or single-column) must still be >= 1.
  int64_t lda = std::max<int64_t>(A.ld, 1), ldb = std::max<int64_t>(B.ld, 1);
  py::gil_scoped_release release;
  gemm<T>(A.trans, B.trans, M, N, K, static_cast<T>(alpha), a, lda, b, ldb, static_cast<T>(beta), C,
          std::max<int64_t>(N, 1));
}

py::array gemm_py(const py::array& a, const py::array& b, py::object c_obj, bool trans_a,
                  bool trans_b, double alpha, double beta) {
  require_float(a, "gemm", "a");
  require_float(b, "gemm", "b");
  require_same_dtype(a, b, "gemm");
  require_ndim(a, 2, "gemm", "a");
  require_ndim(b, 2, "gemm", "b");
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  EMBER_CHECK(K == Kb, "gemm: inner dimensions differ: op(a) is (", M, ", ", K, ") and op(b) is (",
              Kb, ", ", N, ")");
  Operand A = as_operand(a, trans_a, "a");
  Operand B = as_operand(b, trans_b, "b");
  py::array c;
  if (c_obj.is_none()) {
    EMBER_CHECK(beta == 0.0, "gemm: beta != 0 needs an output array c");
    c = empty_like_dtype(a, {M, N});
  } else {
    if (!py::isinstance<py::array>(c_obj))
      throw py::type_error(std::string("gemm: c must be a NumPy array or None, got ") +
                           Py_TYPE(c_obj.ptr())->tp_name);
    c = py::reinterpret_borrow<py::array>(c_obj);
    require_same_dtype(a, c, "gemm");
    require_contiguous(c, "gemm", "c");
    require_writeable(c, "gemm", "c");
    require_shape(c, {M, N}, "gemm", "c");
    // The blocked kernel writes C while it still reads A and B.
    require_no_overlap(c, a, "gemm", "c", "a", false);
    require_no_overlap(c, b, "gemm", "c", "b", false);
  }
  if (is_f32(a))
    run_gemm<float>(A, B, c, M, N, K, alpha, beta);
  else
    run_gemm<double>(A, B, c, M, N, K, alpha, beta);
  return c;
}

// gemm(a, b, c=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0) as a CPython
// METH_FASTCALL | METH_KEYWORDS function: arguments arrive as a C array and keyword names as a
// tuple, so no tuple, dict or overload matching is built per call. pybind11's keyword matching
// cost 1.5 us a call and its *args / **kwargs dispatch 0.55 us more than a positional call;
// nn.Linear passes trans_b by keyword on every call.
py::array gemm_args(PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static constexpr const char* kNames[] = {"a", "b", "c", "trans_a", "trans_b", "alpha", "beta"};
  constexpr Py_ssize_t kCount = sizeof(kNames) / sizeof(kNames[0]);
  PyObject* given[kCount] = {};
  if (nargs > kCount)
    throw py::type_error("gemm() takes at most 7 arguments (" + std::to_string(nargs) + " given)");
  for (Py_ssize_t i = 0; i < nargs; ++i) given[i] = args[i];
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, k);
    Py_ssize_t i = 0;
    while (i < kCount && PyUnicode_CompareWithASCIIString(key, kNames[i]) != 0) ++i;
    if (i == kCount)
      throw py::type_error("gemm() got an unexpected keyword argument '" +
                           py::str(key).cast<std::string>() + "'");
    if (given[i])
      throw py::type_error(std::string("gemm() got multiple values for argument '") + kNames[i] +
                           "'");
    given[i] = args[nargs + k];
  }
  if (!given[0] || !given[1]) throw py::type_error("gemm() missing required argument 'a' or 'b'");
  auto as_array = [](PyObject* o, const char* name) {
    py::array arr = py::array::ensure(py::handle(o));
    if (!arr) throw py::type_error(std::string("gemm: ") + name + " must be an array");
    return arr;
  };
  // bool, int or NumPy bool (what pybind11's bool conversion takes); None means False.
  auto as_bool = [](PyObject* o, const char* name) {
    if (!o || o == Py_None) return false;
    const bool numeric = PyBool_Check(o) || PyLong_Check(o) ||
                         std::string(Py_TYPE(o)->tp_name) == "numpy.bool" ||
                         std::string(Py_TYPE(o)->tp_name) == "numpy.bool_";
    if (!numeric) throw py::type_error(std::string("gemm: ") + name + " must be a bool");
    const int v = PyObject_IsTrue(o);
    if (v < 0) throw py::error_already_set();
    return v == 1;
  };
  auto as_double = [](PyObject* o, double dflt, const char* name) {
    if (!o) return dflt;
    const double v = PyFloat_AsDouble(o);
    if (v == -1.0 && PyErr_Occurred()) {
      PyErr_Clear();
      throw py::type_error(std::string("gemm: ") + name + " must be a number");
    }
    return v;
  };
  const py::array a = as_array(given[0], "a"), b = as_array(given[1], "b");
  py::object c = given[2] ? py::reinterpret_borrow<py::object>(given[2]) : py::none();
  return gemm_py(a, b, c, as_bool(given[3], "trans_a"), as_bool(given[4], "trans_b"),
                 as_double(given[5], 1.0, "alpha"), as_double(given[6], 0.0, "beta"));
}

PyObject* gemm_fastcall(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  try {
    return gemm_args(args, nargs, kwnames).release().ptr();
  } catch (...) {
    py::detail::try_translate_exceptions();  // the module's translators, as pybind11 applies them
    return nullptr;
  }
}

template <typename T>
py::array gemm_ref_py(const py::array& a, const py::array& b, bool trans_a, bool trans_b) {
  const int64_t M = trans_a ? a.shape(1) : a.shape(0);
  const int64_t K = trans_a ? a.shape(0) : a.shape(1);
  const int64_t N = trans_b ? b.shape(0) : b.shape(1);
  py::array c = empty_like_dtype(a, {M, N});
  gemm_ref<T>(trans_a, trans_b, M, N, K, T(1), cptr<T>(a), std::max<int64_t>(a.shape(1), 1),
              cptr<T>(b), std::max<int64_t>(b.shape(1), 1), T(0), ptr<T>(c),
              std::max<int64_t>(N, 1));
  return c;
}

// op(a) (..., M, K) @ op(b) (..., K, N) -> (broadcast(...), M, N); both C-contiguous, ndim >= 2;
// op transposes each matrix of a stored as (..., K, M) (trans_a) / b as (..., N, K) (trans_b).
template <typename T>
void run_matmul(const py::array& a, const py::array& b, py::array& out,
                const std::vector<int64_t>& batch, int64_t M, int64_t N, int64_t K, bool trans_a,
                bool trans_b) {
  const int64_t nd = static_cast<int64_t>(batch.size());
  const int64_t an = a.ndim() - 2, bn = b.ndim() - 2;
  // Element offsets of each batch index into a and b (0 stride where broadcast).
  std::vector<int64_t> astr(nd, 0), bstr(nd, 0);
  int64_t sa = M * K, sb = K * N;
  for (int64_t d = nd - 1; d >= 0; --d) {
    int64_t ia = d - (nd - an), ib = d - (nd - bn);
    if (ia >= 0) {
      if (a.shape(ia) != 1) astr[d] = sa;
      sa *= a.shape(ia);
    }
    if (ib >= 0) {
      if (b.shape(ib) != 1) bstr[d] = sb;
      sb *= b.shape(ib);
    }
  }
  int64_t nbatch = 1;
  for (int64_t d : batch) nbatch *= d;
  const T* A = cptr<T>(a);
  const T* B = cptr<T>(b);
  T* C = ptr<T>(out);
  py::gil_scoped_release release;
  // Many small products: one thread per product. Few large ones: GEMM threads inside.
  const int64_t flops = M * N * K;
  const bool outer = nbatch >= num_threads() && flops < (int64_t(1) << 21);
  const int nt = outer ? threads_for(nbatch * flops, 1 << 15) : 1;
  auto product = [&](int64_t i) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int64_t d = nd - 1; d >= 0; --d) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      oa += idx * astr[d];
      ob += idx * bstr[d];
    }
    gemm<T>(trans_a, trans_b, M, N, K, T(1), A + oa, std::max<int64_t>(trans_a ? M : K, 1), B + ob,
            std::max<int64_t>(trans_b ? K : N, 1), T(0), C + i * M * N, std::max<int64_t>(N, 1),
            outer ? 1 : 0);
  };
  if (nt == 1) {  // (no team: an inactive parallel region costs ~0.3 us of a small bmm)
    for (int64_t i = 0; i < nbatch; ++i) product(i);
    return;
  }
#pragma omp parallel for num_threads(nt) schedule(static)
  for (int64_t i = 0; i < nbatch; ++i) product(i);
}

py::array matmul_py(const py::array& a, const py::array& b, bool trans_a, bool trans_b) {
  require_float(a, "matmul", "a");
  require_float(b, "matmul", "b");
  require_same_dtype(a, b, "matmul");
  EMBER_CHECK(a.ndim() >= 2 && b.ndim() >= 2, "matmul: operands must be at least 2-D, got ",
              shape_str(shape_of(a)), " and ", shape_str(shape_of(b)));
  require_contiguous(a, "matmul", "a");
  require_contiguous(b, "matmul", "b");
  const int64_t ar = a.shape(a.ndim() - 2), ac = a.shape(a.ndim() - 1);
  const int64_t br = b.shape(b.ndim() - 2), bc = b.shape(b.ndim() - 1);
  const int64_t M = trans_a ? ac : ar, K = trans_a ? ar : ac;
  const int64_t Kb = trans_b ? bc : br, N = trans_b ? br : bc;
  EMBER_CHECK(K == Kb, "matmul: shapes ", shape_str(shape_of(a)), " and ", shape_str(shape_of(b)),
              " do not align (", K, " != ", Kb, ")");
  const int64_t an = a.ndim() - 2, bn = b.ndim() - 2, nd = std::max(an, bn);
  std::vector<int64_t> batch(nd);
  for (int64_t d = 0; d < nd; ++d) {
    int64_t ia = d - (nd - an), ib = d - (nd - bn);
    int64_t da = ia >= 0 ? a.shape(ia) : 1, db = ib >= 0 ? b.shape(ib) : 1;
    EMBER_CHECK(da == db || da == 1 || db == 1, "matmul: batch dimensions of ",
                shape_str(shape_of(a)), " and ", shape_str(shape_of(b)), " do not broadcast");
    batch[d] = da == 1 ? db : da;  // not max: 1 and 0 broadcast to 0
  }
  std::vector<int64_t> out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  numel_checked(out_shape, "matmul");
  py::array out = empty_like_dtype(a, out_shape);
  // An empty product has nothing to write; the batch loop would still run (an empty a of shape
  // (2^28, 2^28, 0, 4) looped 2^56 times). K == 0 with a non-empty out is zeros, via the GEMM.
  if (out.size() == 0) return out;
  if (is_f32(a))
    run_matmul<float>(a, b, out, batch, M, N, K, trans_a, trans_b);
  else
    run_matmul<double>(a, b, out, batch, M, N, K, trans_a, trans_b);
  return out;
}

}  // namespace

void bind_gemm(py::module_& m) {
  // EMBER_ISA forces a micro-kernel family; a bad value fails the import loudly.
  if (const char* env = std::getenv("EMBER_ISA"); env && *env) {
    try {
      gemm_set_isa(env);
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(std::string("EMBER_ISA=") + env + ": " + e.what());
    }
  }
  static PyMethodDef gemm_def = {
      "gemm", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&gemm_fastcall)),
      METH_FASTCALL | METH_KEYWORDS,
      "gemm(a, b, c=None, trans_a=False, trans_b=False, alpha=1.0, beta=0.0)\n\n"
      "c := alpha * op(a) @ op(b) + beta * c for 2-D float arrays (c is returned; a new one "
      "when c is None and beta == 0)."};
  PyObject* gemm_fn = PyCFunction_NewEx(&gemm_def, nullptr, nullptr);
  if (!gemm_fn) throw py::error_already_set();
  m.attr("gemm") = py::reinterpret_steal<py::object>(gemm_fn);
  m.def("matmul", &matmul_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false,
        "Batched a (..., M, K) @ b (..., K, N) with broadcasting over leading dims; trans_a / "
        "trans_b: a is stored (..., K, M) / b (..., N, K), each matrix used transposed.");
  m.def(
      "gemm_ref",
      [](const py::array& a, const py::array& b, bool trans_a, bool trans_b) {
        require_float(a, "gemm_ref", "a");
        require_same_dtype(a, b, "gemm_ref");
        require_ndim(a, 2, "gemm_ref", "a");
        require_ndim(b, 2, "gemm_ref", "b");
        require_contiguous(a, "gemm_ref", "a");
        require_contiguous(b, "gemm_ref", "b");
        const int64_t K = trans_a ? a.shape(0) : a.shape(1);
        const int64_t Kb = trans_b ? b.shape(1) : b.shape(0);
        EMBER_CHECK(K == Kb, "gemm_ref: inner dimensions differ");
        return is_f32(a) ? gemm_ref_py<float>(a, b, trans_a, trans_b)
                         : gemm_ref_py<double>(a, b, trans_a, trans_b);
      },
      py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
      "The triple-loop reference (C-contiguous inputs): the test oracle.");
  m.def("gemm_isa", [] { return std::string(gemm_isa()); });
  m.def(
      "gemm_set_isa", [](const std::string& name) { gemm_set_isa(name.c_str()); }, py::arg("name"));
}

}  // namespace ember
