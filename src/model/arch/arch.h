// Per-architecture facts: one function per family, looked up by general.architecture.
#pragma once

#include <string>

#include "model/hparams.h"

namespace kvfuse::model::arch {

// Sets the family-specific fields of hp (rope order, biases); false if unknown.
bool ConfigureLlama(HParams& hp);
bool ConfigureQwen2(HParams& hp);
bool ConfigureQwen3(HParams& hp);

}  // namespace kvfuse::model::arch
