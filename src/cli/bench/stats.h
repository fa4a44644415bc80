// Summary statistics of measured samples, for the benchmark commands.
#pragma once

#include <vector>

namespace kvfuse::cli {

// 0 for no samples.
double Mean(const std::vector<double>& samples);
// Sample standard deviation (divided by n - 1) around `mean`; 0 for fewer than two samples.
double SampleStddev(const std::vector<double>& samples, double mean);
// The `fraction` (0..1) quantile, interpolated linearly between the two closest ranks.
// Needs at least one sample.
double InterpolatedPercentile(std::vector<double> samples, double fraction);
// The sample of rank round(fraction * (n - 1)), no interpolation; 0 for no samples.
double NearestRankPercentile(std::vector<double> samples, double fraction);

}  // namespace kvfuse::cli
