#include "cli/bench/stats.h"

#include <algorithm>
#include <cmath>

namespace kvfuse::cli {

double Mean(const std::vector<double>& samples) {
  double sum = 0;
  for (double x : samples) sum += x;
  return samples.empty() ? 0 : sum / samples.size();
}

double SampleStddev(const std::vector<double>& samples, double mean) {
  double squares = 0;
  for (double x : samples) squares += (x - mean) * (x - mean);
  return samples.size() > 1 ? std::sqrt(squares / (samples.size() - 1)) : 0;
}

double InterpolatedPercentile(std::vector<double> samples, double fraction) {
  std::sort(samples.begin(), samples.end());
  const double rank = fraction * (samples.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, samples.size() - 1);
  return samples[lo] + (rank - lo) * (samples[hi] - samples[lo]);
}

double NearestRankPercentile(std::vector<double> samples, double fraction) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(fraction * (samples.size() - 1) + 0.5))];
}

}  // namespace kvfuse::cli
