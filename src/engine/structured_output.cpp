// Engine::CompileGrammar: grammars bound to the model's vocabulary.
#include "engine/engine.h"
#include "sched/grammar/grammar.h"
#include "sched/grammar/grammar_matcher.h"

namespace kvfuse::engine {

util::Result<std::shared_ptr<const sched::grammar::TokenGrammar>> Engine::CompileGrammar(const std::string& gbnf) const {
  if (!tokenizer_) return util::Status::Unavailable("the model has no usable tokenizer, so no grammar can be applied");
  auto grammar = sched::grammar::CompileGbnf(gbnf);
  if (!grammar.ok()) return grammar.status();
  std::call_once(token_texts_once_, [&] {
    auto texts = std::make_shared<sched::grammar::TokenTexts>();
    texts->bytes.resize(n_vocab());
    texts->ends_turn.resize(n_vocab());
    for (int32_t id = 0; id < n_vocab(); ++id) {
      texts->ends_turn[id] = EndsTurn(id);
      if (id < tokenizer_->vocab().n_tokens()) texts->bytes[id] = tokenizer_->Piece(id);
    }
    first_chars_ = std::make_shared<const std::vector<uint32_t>>(sched::grammar::FirstChars(*texts));
    token_texts_ = std::move(texts);
  });
  auto compiled = std::make_shared<const sched::grammar::Grammar>(std::move(grammar).value());
  if (util::Status s = sched::grammar::CheckGrammarCost(compiled); !s.ok()) return s;
  return std::make_shared<const sched::grammar::TokenGrammar>(
      sched::grammar::TokenGrammar{std::move(compiled), token_texts_, first_chars_});
}

}  // namespace kvfuse::engine
