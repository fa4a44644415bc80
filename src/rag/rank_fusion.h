// Reciprocal-rank fusion (Cormack et al. 2009): score(d) = sum over lists of
// weight / (k + rank of d in the list), ranks from 1.
#pragma once

#include <vector>

#include "rag/bm25_index.h"

namespace kvfuse::rag {

struct RankedList {
  std::vector<int32_t> ids;  // best first
  double weight = 1.0;
};

// Fused ids, best first; ties by first appearance in the lists.
std::vector<ScoredId> ReciprocalRankFusion(const std::vector<RankedList>& lists, double k = 60.0);

}  // namespace kvfuse::rag
