#include "util/log_sum_exp.h"

#include <algorithm>
#include <cmath>

namespace kvfuse::util {

double LogSumExp(const float* x, int32_t n) {
  const double mx = *std::max_element(x, x + n);
  double sum = 0;
  for (int32_t i = 0; i < n; ++i) sum += std::exp(static_cast<double>(x[i]) - mx);
  return mx + std::log(sum);
}

double TopProbability(const float* x, int32_t n) {
  return std::exp(static_cast<double>(*std::max_element(x, x + n)) - LogSumExp(x, n));
}

}  // namespace kvfuse::util
