// A small command-line parser for the kvfuse subcommands: "-x VALUE", "--name VALUE",
// flags, and positional arguments. Unknown options are errors.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "util/status.h"

namespace kvfuse::cli {

class Args {
 public:
  // value_options: options that take a value (e.g. {"-m", "--model"}); flag_options: not.
  static util::Result<Args> Parse(int argc, char** argv, const std::set<std::string>& value_options,
                                  const std::set<std::string>& flag_options);

  bool Has(const std::string& name) const { return values_.count(name) || flags_.count(name); }
  std::string Get(const std::string& name, const std::string& fallback = "") const;
  util::Result<long long> GetInt(const std::string& name, long long fallback) const;
  util::Result<double> GetFloat(const std::string& name, double fallback) const;
  const std::vector<std::string>& positional() const { return positional_; }
  void Set(const std::string& name, const std::string& value) { values_[name] = value; }

 private:
  std::map<std::string, std::string> values_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace kvfuse::cli
