// Run-time CPU feature detection, used to pick kernel variants.
#pragma once

namespace kvfuse::util {

struct CpuFeatures {
  bool avx2 = false;  // with FMA and F16C
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512vnni = false;
  // AMX tiles with int8 products, and the kernel lets this process use them (the tile data
  // state is requested once, here).
  bool amx_int8 = false;
};

// Detected once; cheap to call.
const CpuFeatures& DetectCpuFeatures();

}  // namespace kvfuse::util
