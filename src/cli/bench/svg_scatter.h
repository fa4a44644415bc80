// A labelled scatter plot as a standalone SVG file (the benchmarks' figures): linear axes
// from the data's ranges, one colour per series, each point named beside it.
#pragma once

#include <string>
#include <vector>

#include "util/status.h"

namespace kvfuse::cli {

struct SvgScatter {
  struct Point {
    double x, y;
    std::string label;
  };
  struct Series {
    std::string name;
    std::vector<Point> points;
  };
  std::string title, x_axis, y_axis;
  std::vector<Series> series;
};

// Written atomically (temporary file, rename).
util::Status WriteSvg(const std::string& path, const SvgScatter& plot);

}  // namespace kvfuse::cli
