#include "cli/bench/svg_scatter.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "util/atomic_file.h"

namespace kvfuse::cli {

namespace {

constexpr double kWidth = 720, kHeight = 480, kLeft = 70, kRight = 160, kTop = 40, kBottom = 60;
constexpr const char* kColours[] = {"#1f77b4", "#d62728", "#2ca02c", "#9467bd"};

std::string Escaped(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

// [lo, hi] of the data widened to whole ticks; at least one unit wide.
struct Axis {
  double lo = 0, hi = 1;
  double Map(double v, double from, double to) const { return from + (v - lo) / (hi - lo) * (to - from); }
};

Axis AxisOf(const std::vector<double>& values, bool from_zero) {
  Axis a;
  if (values.empty()) return a;
  a.lo = from_zero ? 0 : *std::min_element(values.begin(), values.end());
  a.hi = *std::max_element(values.begin(), values.end());
  if (a.hi - a.lo < 1) a.hi = a.lo + 1;
  const double step = std::pow(10.0, std::floor(std::log10(a.hi - a.lo)));
  a.lo = std::floor(a.lo / step) * step;
  a.hi = std::ceil(a.hi / step) * step;
  return a;
}

void DrawAxes(std::ostringstream& svg, const SvgScatter& plot, const Axis& x, const Axis& y) {
  const double x0 = kLeft, x1 = kWidth - kRight, y0 = kHeight - kBottom, y1 = kTop;
  svg << "<line x1='" << x0 << "' y1='" << y0 << "' x2='" << x1 << "' y2='" << y0 << "' stroke='black'/>\n"
      << "<line x1='" << x0 << "' y1='" << y0 << "' x2='" << x0 << "' y2='" << y1 << "' stroke='black'/>\n";
  for (int i = 0; i <= 5; ++i) {
    const double vx = x.lo + (x.hi - x.lo) * i / 5, vy = y.lo + (y.hi - y.lo) * i / 5;
    svg << "<text x='" << x.Map(vx, x0, x1) << "' y='" << y0 + 18 << "' text-anchor='middle'>" << vx << "</text>\n"
        << "<text x='" << x0 - 8 << "' y='" << y.Map(vy, y0, y1) + 4 << "' text-anchor='end'>" << vy << "</text>\n";
  }
  svg << "<text x='" << (x0 + x1) / 2 << "' y='" << kHeight - 15 << "' text-anchor='middle'>" << Escaped(plot.x_axis)
      << "</text>\n<text x='15' y='" << (y0 + y1) / 2 << "' transform='rotate(-90 15 " << (y0 + y1) / 2
      << ")' text-anchor='middle'>" << Escaped(plot.y_axis) << "</text>\n<text x='" << kWidth / 2
      << "' y='22' text-anchor='middle' font-weight='bold'>" << Escaped(plot.title) << "</text>\n";
}

}  // namespace

util::Status WriteSvg(const std::string& path, const SvgScatter& plot) {
  std::vector<double> xs, ys;
  for (const auto& s : plot.series)
    for (const auto& p : s.points) xs.push_back(p.x), ys.push_back(p.y);
  const Axis x = AxisOf(xs, true), y = AxisOf(ys, true);
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << kWidth << "' height='" << kHeight
      << "' font-family='sans-serif' font-size='11'>\n<rect width='100%' height='100%' fill='white'/>\n";
  DrawAxes(svg, plot, x, y);
  for (size_t i = 0; i < plot.series.size(); ++i) {
    const char* colour = kColours[i % std::size(kColours)];
    svg << "<text x='" << kWidth - kRight + 20 << "' y='" << kTop + 16 * i << "' fill='" << colour << "'>&#9679; "
        << Escaped(plot.series[i].name) << "</text>\n";
    for (const auto& p : plot.series[i].points) {
      const double px = x.Map(p.x, kLeft, kWidth - kRight), py = y.Map(p.y, kHeight - kBottom, kTop);
      svg << "<circle cx='" << px << "' cy='" << py << "' r='4' fill='" << colour << "'/>\n<text x='" << px + 6
          << "' y='" << py - 4 << "' fill='" << colour << "' font-size='9'>" << Escaped(p.label) << "</text>\n";
    }
  }
  svg << "</svg>\n";
  return util::WriteFileAtomically(path, svg.str());
}

}  // namespace kvfuse::cli
