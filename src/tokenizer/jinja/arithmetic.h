// Numbers with Python semantics, checked: an int result that does not fit in 64 bits
// (Python would grow it), a division by zero or a float that cannot become an int is an
// error value, never undefined behaviour or SIGFPE.
#pragma once

#include <cstdint>
#include <string>

#include "tokenizer/jinja/value.h"
#include "util/status.h"

namespace kvfuse::tokenizer::jinja {

// a op b for op in + - * / // % on numbers and bools (bools count as 0 and 1). Ints stay
// ints except for "/"; "//" floors and "%" takes the sign of b, as in Python.
util::Result<Value> NumericBinary(const std::string& op, const Value& a, const Value& b);
// -v for an int or float.
util::Result<Value> Negate(const Value& v);
// int(v) for an int, bool or float (truncating a float, as Python does).
util::Result<int64_t> ToInt(const Value& v);
// The number of values of range(start, stop, step), at most INT64_MAX; an error for a
// zero step.
util::Result<int64_t> RangeLength(int64_t start, int64_t stop, int64_t step);
// start + index * step, for an index below RangeLength (so it cannot overflow).
int64_t RangeItem(int64_t start, int64_t step, int64_t index);

}  // namespace kvfuse::tokenizer::jinja
