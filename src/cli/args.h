// A small command-line parser for the kvfuse subcommands: "-x VALUE", "--name VALUE",
// flags, and positional arguments. Unknown options are errors. llama.cpp's long spellings
// ("--model" for "-m", see LongSpellings) are the same option as the short one wherever a
// command takes the short one; the parsed Args know only the short one.
#pragma once

#include <map>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace kvfuse::cli {

// A long spelling and the option it names, e.g. {"--model", "-m"}.
struct LongSpelling {
  std::string_view name;
  std::string_view option;
};
std::span<const LongSpelling> LongSpellings();
// "--model = -m, --ctx-size = -c, ..." for usage texts.
std::string LongSpellingsHelp();

class Args {
 public:
  // value_options: options that take a value (e.g. {"-m", "-t"}); flag_options: not. Each
  // given by its short name: its long spelling (LongSpellings) is accepted with it.
  static util::Result<Args> Parse(int argc, char** argv, const std::set<std::string>& value_options,
                                  const std::set<std::string>& flag_options);

  bool Has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  util::Result<long long> GetInt(const std::string& name, long long fallback) const;
  util::Result<double> GetFloat(const std::string& name, double fallback) const;
  // GetFloat, refused unless within [lo, hi] (NaN never is) with "NAME must be " + `range`,
  // the range in the words a user needs, e.g. "within [0, 1] (0: never)".
  util::Result<double> GetFloatIn(const std::string& name, double fallback, double lo, double hi,
                                  std::string_view range) const;
  const std::vector<std::string>& positional() const { return positional_; }
  void Set(const std::string& name, const std::string& value) { values_[name] = value; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace kvfuse::cli
