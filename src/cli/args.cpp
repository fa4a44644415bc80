#include "cli/args.h"

#include <cstdlib>

namespace kvfuse::cli {

using util::Result;
using util::Status;

namespace {

// llama.cpp's (and llama-server's) spellings of the options kvfuse shares with it.
constexpr LongSpelling kLongSpellings[] = {
    {"--model", "-m"}, {"--ctx-size", "-c"}, {"--threads", "-t"}, {"--parallel", "-np"}, {"--file", "-f"},
};

// The option `a` names for a command that takes these options: its short name when `a` is
// a long spelling of one of them, else `a` itself.
std::string OptionName(const std::string& a, const std::set<std::string>& value_options,
                       const std::set<std::string>& flag_options) {
  for (const LongSpelling& s : kLongSpellings) {
    const std::string option(s.option);
    if (a == s.name && (value_options.count(option) || flag_options.count(option))) return option;
  }
  return a;
}

}  // namespace

std::span<const LongSpelling> LongSpellings() { return kLongSpellings; }

std::string LongSpellingsHelp() {
  std::string text;
  for (const LongSpelling& s : kLongSpellings)
    text += (text.empty() ? "" : ", ") + std::string(s.name) + " = " + std::string(s.option);
  return text;
}

Result<Args> Args::Parse(int argc, char** argv, const std::set<std::string>& value_options,
                         const std::set<std::string>& flag_options) {
  Args args;
  for (int i = 0; i < argc; ++i) {
    const std::string a = OptionName(argv[i], value_options, flag_options);
    if (value_options.count(a)) {
      if (i + 1 >= argc) return Status::InvalidArgument(std::string("option ") + argv[i] + " needs a value");
      const std::string next = OptionName(argv[i + 1], value_options, flag_options);
      if (value_options.count(next) || flag_options.count(next))  // "--collection -k 3": a forgotten value
        return Status::InvalidArgument(std::string("option ") + argv[i] + " needs a value, not the option " + argv[i + 1]);
      if (args.values_.count(a))  // the last one would silently win
        return Status::InvalidArgument(std::string("option ") + argv[i] + " is given twice" +
                                       (a != argv[i] ? " (as " + a + " too)" : ""));
      args.values_[a] = argv[++i];
    } else if (flag_options.count(a)) {
      args.flags_.insert(a);
    } else if (a.size() > 1 && a[0] == '-' && !(a[1] >= '0' && a[1] <= '9')) {
      return Status::InvalidArgument("unknown option " + a);
    } else {
      args.positional_.push_back(a);
    }
  }
  return args;
}

std::string Args::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second;
}

Result<long long> Args::GetInt(const std::string& name, long long fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(it->second.c_str(), &end, 10);
  if (end == it->second.c_str() || *end != '\0')
    return Status::InvalidArgument("option " + name + " expects an integer, got '" + it->second + "'");
  return v;
}

Result<double> Args::GetFloat(const std::string& name, double fallback) const {
  auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str() || *end != '\0')
    return Status::InvalidArgument("option " + name + " expects a number, got '" + it->second + "'");
  return v;
}

Result<double> Args::GetFloatIn(const std::string& name, double fallback, double lo, double hi,
                                std::string_view range) const {
  auto v = GetFloat(name, fallback);
  if (v.ok() && !(v.value() >= lo && v.value() <= hi))  // NaN fails both comparisons
    return Status::InvalidArgument(name + " must be " + std::string(range));
  return v;
}

}  // namespace kvfuse::cli
