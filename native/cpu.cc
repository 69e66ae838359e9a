// Run-time ISA choice.
#include <cstdlib>
#include <cstring>

#include "common.h"

namespace ligo {

static Isa detect() {
#if LIGO_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("fma"))
    return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
#endif
  return Isa::Scalar;
}

Isa active_isa() {
  static const Isa isa = [] {
    Isa best = detect();
    const char* cap = std::getenv("LIGO_ISA");
    Isa want = best;
    if (cap && std::strcmp(cap, "scalar") == 0) want = Isa::Scalar;
    else if (cap && std::strcmp(cap, "avx2") == 0) want = Isa::Avx2;
    return (int)want < (int)best ? want : best;
  }();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::Avx512: return "avx512";
    case Isa::Avx2: return "avx2";
    default: return "scalar";
  }
}

}  // namespace ligo
