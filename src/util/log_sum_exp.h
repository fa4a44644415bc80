// log(sum(exp(x))) of a row of logits, in double: the normaliser of a softmax. Pure; any
// thread.
#pragma once

#include <cstdint>

namespace kvfuse::util {

// n > 0.
double LogSumExp(const float* x, int32_t n);

// The softmax probability of the most likely entry of n > 0 logits.
double TopProbability(const float* x, int32_t n);

}  // namespace kvfuse::util
