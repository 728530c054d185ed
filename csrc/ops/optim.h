// Fused optimiser updates (csrc/ops/optim.cpp): each updates a parameter and its state buffers
// in place in one pass. Pointers are C-contiguous arrays of n elements; optional state is
// nullptr when unused. Hyper-parameters are validated by the caller (the Python layer).
#pragma once

#include <cstdint>

#include "common.h"

namespace ember {

template <typename T>
void sgd_step(T* p, T* buf, const T* g, int64_t n, double lr, double momentum, double dampening,
              double weight_decay, bool nesterov, bool maximize, bool first);

template <typename T>
void adam_step(T* p, T* exp_avg, T* exp_avg_sq, T* max_exp_avg_sq, const T* g, int64_t n, double lr,
               double beta1, double beta2, double eps, double weight_decay, bool decoupled,
               bool maximize, double step);

template <typename T>
void adagrad_step(T* p, T* sum, const T* g, int64_t n, double clr, double eps, double weight_decay,
                  bool maximize);

template <typename T>
void adadelta_step(T* p, T* square_avg, T* acc_delta, const T* g, int64_t n, double lr, double rho,
                   double eps, double weight_decay, bool maximize);

template <typename T>
void rmsprop_step(T* p, T* square_avg, T* grad_avg, T* buf, const T* g, int64_t n, double lr,
                  double alpha, double eps, double weight_decay, double momentum, bool maximize);

template <typename T>
void adamax_step(T* p, T* exp_avg, T* exp_inf, const T* g, int64_t n, double lr, double beta1,
                 double beta2, double eps, double weight_decay, bool maximize, double step);

template <typename T>
void nadam_step(T* p, T* exp_avg, T* exp_avg_sq, const T* g, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
                double bc2, double cg, double cm);

template <typename T>
void radam_step(T* p, T* exp_avg, T* exp_avg_sq, const T* g, int64_t n, double lr, double beta1,
                double beta2, double eps, double weight_decay, bool decoupled, bool maximize,
                double step);

template <typename T>
void rprop_step(T* p, T* prev, T* step_size, const T* g, int64_t n, double etaminus, double etaplus,
                double step_size_min, double step_size_max, bool maximize);

template <typename T>
void asgd_step(T* p, T* ax, const T* g, int64_t n, double eta, double lambd, double mu,
               double weight_decay, bool maximize);

// start = lerp(start, end, weight) in place, as torch.lerp_ (one fused multiply-add): the
// moving averages of swa_utils' EMA/SWA, Muon, Adafactor and Adam with tensor betas.
template <typename T>
void lerp_inplace(T* start, const T* end, int64_t n, double weight);

// Sum of x[i]^2 over n elements, in double (clip_grad_norm_'s per-gradient norms).
template <typename T>
double sum_squares(const T* x, int64_t n);

}  // namespace ember
