#include "rag/rank_fusion.h"

#include <algorithm>
#include <unordered_map>

namespace kvfuse::rag {

std::vector<ScoredId> ReciprocalRankFusion(const std::vector<RankedList>& lists, double k) {
  std::unordered_map<int32_t, size_t> index;
  std::vector<ScoredId> fused;
  for (const RankedList& list : lists)
    for (size_t r = 0; r < list.ids.size(); ++r) {
      auto [it, inserted] = index.try_emplace(list.ids[r], fused.size());
      if (inserted) fused.push_back({list.ids[r], 0.0});
      fused[it->second].score += list.weight / (k + static_cast<double>(r + 1));
    }
  std::stable_sort(fused.begin(), fused.end(), [](const ScoredId& a, const ScoredId& b) { return a.score > b.score; });
  return fused;
}

}  // namespace kvfuse::rag
