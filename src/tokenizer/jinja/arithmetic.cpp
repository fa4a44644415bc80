#include "tokenizer/jinja/arithmetic.h"

#include <cmath>

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

Status Overflow(int64_t a, const std::string& op, int64_t b) {
  return Status::Error(StrFormat("integer overflow: %lld %s %lld does not fit in 64 bits", static_cast<long long>(a),
                                 op.c_str(), static_cast<long long>(b)));
}

Result<Value> IntBinary(const std::string& op, int64_t a, int64_t b) {
  int64_t r = 0;
  if (op == "+") return __builtin_add_overflow(a, b, &r) ? Result<Value>(Overflow(a, op, b)) : Value(r);
  if (op == "-") return __builtin_sub_overflow(a, b, &r) ? Result<Value>(Overflow(a, op, b)) : Value(r);
  if (op == "*") return __builtin_mul_overflow(a, b, &r) ? Result<Value>(Overflow(a, op, b)) : Value(r);
  if (b == 0) return Status::Error("integer division or modulo by zero");
  if (b == -1) {
    // a / -1 traps (SIGFPE) for INT64_MIN; a % -1 is always 0.
    if (op == "%") return Value(int64_t{0});
    return __builtin_sub_overflow(int64_t{0}, a, &r) ? Result<Value>(Overflow(a, op, b)) : Value(r);
  }
  // Python floors the quotient, so the remainder takes the sign of b. With b not 0 or -1
  // neither a / b nor a % b traps, and r + b cannot overflow as r and b differ in sign.
  const int64_t r0 = a % b;
  const bool adjust = r0 != 0 && ((r0 < 0) != (b < 0));
  if (op == "//") return Value(a / b - (adjust ? 1 : 0));
  if (op == "%") return Value(adjust ? r0 + b : r0);
  return Status::Error("unsupported operator " + op);
}

Result<Value> FloatBinary(const std::string& op, double x, double y) {
  if (op == "+") return Value(x + y);
  if (op == "-") return Value(x - y);
  if (op == "*") return Value(x * y);
  if (y == 0) return Status::Error("float division by zero");
  if (op == "/") return Value(x / y);
  if (op == "//") return Value(std::floor(x / y));
  if (op == "%") return Value(x - std::floor(x / y) * y);
  return Status::Error("unsupported operator " + op);
}

}  // namespace

Result<Value> NumericBinary(const std::string& op, const Value& a, const Value& b) {
  if (!(a.is_number() || a.is_bool()) || !(b.is_number() || b.is_bool()))
    return Status::Error(std::string("unsupported operand types for ") + op + ": " + a.TypeName() + " and " + b.TypeName());
  if (op != "/" && !a.is_float() && !b.is_float())
    return IntBinary(op, a.is_int() ? a.as_int() : a.as_bool(), b.is_int() ? b.as_int() : b.as_bool());
  return FloatBinary(op, a.as_number(), b.as_number());
}

Result<Value> Negate(const Value& v) {
  if (v.is_float()) return Value(-v.as_number());
  if (!v.is_int()) return Status::Error(std::string("unary - on ") + v.TypeName());
  int64_t r = 0;
  if (__builtin_sub_overflow(int64_t{0}, v.as_int(), &r))
    return Status::Error(StrFormat("integer overflow: -(%lld) does not fit in 64 bits", static_cast<long long>(v.as_int())));
  return Value(r);
}

Result<int64_t> ToInt(const Value& v) {
  if (v.is_int()) return v.as_int();
  if (v.is_bool()) return int64_t{v.as_bool()};
  if (!v.is_float()) return Status::Error(std::string("expected a number, got ") + v.TypeName());
  const double d = std::trunc(v.as_number());
  // Converting a NaN, an infinity or a float outside the int64 range is undefined behaviour.
  if (!(d >= -0x1p63 && d < 0x1p63)) return Status::Error("float " + v.Str() + " does not fit in a 64-bit integer");
  return static_cast<int64_t>(d);
}

Result<int64_t> RangeLength(int64_t start, int64_t stop, int64_t step) {
  if (step == 0) return Status::Error("range() step must not be zero");
  if (step > 0 ? start >= stop : start <= stop) return int64_t{0};
  // Unsigned arithmetic: the distance and the step's magnitude always fit in 64 bits.
  const uint64_t distance = step > 0 ? static_cast<uint64_t>(stop) - static_cast<uint64_t>(start)
                                     : static_cast<uint64_t>(start) - static_cast<uint64_t>(stop);
  const uint64_t magnitude = step > 0 ? static_cast<uint64_t>(step) : 0 - static_cast<uint64_t>(step);
  const uint64_t length = (distance - 1) / magnitude + 1;
  // Saturates: callers limit ranges to far fewer items.
  return length > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(length);
}

int64_t RangeItem(int64_t start, int64_t step, int64_t index) {
  // Wraps modulo 2^64 like the exact result, which lies between start and stop.
  return static_cast<int64_t>(static_cast<uint64_t>(start) + static_cast<uint64_t>(index) * static_cast<uint64_t>(step));
}

}  // namespace kvfuse::tokenizer::jinja
