#include "tokenizer/jinja/interpreter.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <unordered_map>

namespace kvfuse::tokenizer::jinja {

using util::Result;
using util::Status;
using util::StrFormat;

namespace {

struct RenderError {
  std::string message;
};

[[noreturn]] void Fail(int line, const std::string& what) {
  throw RenderError{StrFormat("line %d: %s", line, what.c_str())};
}

enum class Flow { kNormal, kBreak, kContinue };

std::string Strip(const std::string& s, const std::string& chars, bool left, bool right) {
  auto is_strip = [&](char c) {
    return chars.empty() ? std::isspace(static_cast<unsigned char>(c)) != 0 : chars.find(c) != std::string::npos;
  };
  size_t b = 0, e = s.size();
  if (left) while (b < e && is_strip(s[b])) ++b;
  if (right) while (e > b && is_strip(s[e - 1])) --e;
  return s.substr(b, e - b);
}

std::string Title(const std::string& s) {
  std::string out = s;
  bool start = true;
  for (char& c : out) {
    const bool alpha = std::isalpha(static_cast<unsigned char>(c));
    c = alpha ? (start ? std::toupper(c) : std::tolower(c)) : c;
    start = !alpha;
  }
  return out;
}

std::string ReplaceAll(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

class Interpreter {
 public:
  explicit Interpreter(const Dict& globals) {
    scopes_.emplace_back();
    for (const auto& [k, v] : globals) scopes_.back()[k] = v;
  }

  Flow Run(const Body& body, std::string& out) {
    for (const auto& node : body) {
      const Flow f = Exec(*node, out);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

 private:
  Flow Exec(const Node& n, std::string& out) {
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; return Flow::kNormal;
      case Node::Kind::kOutput: out += Eval(*n.expr).Str(); return Flow::kNormal;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches)
          if (Eval(*cond).Truthy()) return Run(body, out);
        return Run(n.else_body, out);
      case Node::Kind::kSet: {
        Value v = Eval(*n.expr);
        if (n.targets.size() == 1) {
          scopes_.back()[n.targets[0]] = std::move(v);
        } else {
          Value ns = Lookup(n.targets[0]);
          if (!ns.is_dict()) Fail(n.line, "cannot set an attribute of " + std::string(ns.TypeName()));
          Dict& d = ns.as_dict();
          auto it = std::find_if(d.begin(), d.end(), [&](const auto& kv) { return kv.first == n.targets[1]; });
          if (it != d.end()) it->second = std::move(v);
          else d.emplace_back(n.targets[1], std::move(v));
        }
        return Flow::kNormal;
      }
      case Node::Kind::kFor: return For(n, out);
      case Node::Kind::kBreak: return Flow::kBreak;
      case Node::Kind::kContinue: return Flow::kContinue;
    }
    return Flow::kNormal;
  }

  Flow For(const Node& n, std::string& out) {
    const Value iterable = Eval(*n.expr);
    List items;
    if (iterable.is_list()) items = iterable.as_list();
    else if (iterable.is_dict()) for (const auto& [k, v] : iterable.as_dict()) items.push_back(Value(k));
    else if (iterable.is_string()) for (char c : iterable.as_string()) items.push_back(Value(std::string(1, c)));
    else if (!iterable.is_undefined() && !iterable.is_none()) Fail(n.line, std::string("cannot iterate over ") + iterable.TypeName());
    scopes_.emplace_back();
    auto bind = [&](const Value& item) {
      if (n.targets.size() == 1) {
        scopes_.back()[n.targets[0]] = item;
        return;
      }
      if (!item.is_list() || item.as_list().size() != n.targets.size())
        Fail(n.line, "cannot unpack loop item into " + std::to_string(n.targets.size()) + " names");
      for (size_t i = 0; i < n.targets.size(); ++i) scopes_.back()[n.targets[i]] = item.as_list()[i];
    };
    if (n.filter) {
      List kept;
      for (const Value& item : items) {
        bind(item);
        if (Eval(*n.filter).Truthy()) kept.push_back(item);
      }
      items = std::move(kept);
    }
    const int64_t len = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < len; ++i) {
      bind(items[i]);
      scopes_.back()["loop"] = Value(Dict{
          {"index", Value(i + 1)}, {"index0", Value(i)}, {"revindex", Value(len - i)},
          {"revindex0", Value(len - i - 1)}, {"first", Value(i == 0)}, {"last", Value(i == len - 1)},
          {"length", Value(len)}, {"previtem", i > 0 ? items[i - 1] : Value()},
          {"nextitem", i + 1 < len ? items[i + 1] : Value()}});
      if (Run(n.body, out) == Flow::kBreak) break;
    }
    scopes_.pop_back();
    if (items.empty()) Run(n.else_body, out);
    return Flow::kNormal;
  }

  Value Lookup(const std::string& name) const {
    for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it)
      if (auto f = it->find(name); f != it->end()) return f->second;
    return Value();
  }

  static int64_t ToInt(const Value& v, int line) {
    if (v.is_int()) return v.as_int();
    if (v.is_bool()) return v.as_bool();
    if (v.is_float()) return static_cast<int64_t>(v.as_number());
    Fail(line, std::string("expected a number, got ") + v.TypeName());
  }

  Value Eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return e.literal;
      case Expr::Kind::kName: return Lookup(e.name);
      case Expr::Kind::kList: {
        List l;
        for (const auto& a : e.args) l.push_back(Eval(*a));
        return Value(std::move(l));
      }
      case Expr::Kind::kDict: {
        Dict d;
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) d.emplace_back(Eval(*e.args[i]).Str(), Eval(*e.args[i + 1]));
        return Value(std::move(d));
      }
      case Expr::Kind::kAttr: return Eval(*e.args[0]).Get(e.name);
      case Expr::Kind::kIndex: return Index(Eval(*e.args[0]), Eval(*e.args[1]), e.line);
      case Expr::Kind::kSlice: return Slice(e);
      case Expr::Kind::kCall: return Call(e);
      case Expr::Kind::kFilter: return Filter(e);
      case Expr::Kind::kTest: return Value(Test(e) != e.negated);
      case Expr::Kind::kUnary: {
        const Value v = Eval(*e.args[0]);
        if (e.name == "not") return Value(!v.Truthy());
        if (!v.is_number()) Fail(e.line, "unary " + e.name + " on " + v.TypeName());
        if (e.name == "+") return v;
        return v.is_int() ? Value(-v.as_int()) : Value(-v.as_number());
      }
      case Expr::Kind::kBinary: return Binary(e);
      case Expr::Kind::kTernary: return Eval(*e.args[1]).Truthy() ? Eval(*e.args[0]) : Eval(*e.args[2]);
    }
    return Value();
  }

  static Value Index(const Value& obj, const Value& key, int line) {
    if (obj.is_dict()) return obj.Get(key.Str());
    if (obj.is_list() || obj.is_string()) {
      if (!key.is_int()) return Value();
      const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.as_list().size()) : static_cast<int64_t>(obj.as_string().size());
      int64_t i = key.as_int();
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Value();
      return obj.is_list() ? obj.as_list()[i] : Value(std::string(1, obj.as_string()[i]));
    }
    if (obj.is_undefined()) Fail(line, "indexing an undefined value");
    return Value();
  }

  Value Slice(const Expr& e) {
    const Value obj = Eval(*e.args[0]);
    const int64_t n = obj.is_list() ? static_cast<int64_t>(obj.as_list().size())
                      : obj.is_string() ? static_cast<int64_t>(obj.as_string().size())
                                        : -1;
    if (n < 0) Fail(e.line, std::string("cannot slice ") + obj.TypeName());
    auto bound = [&](const ExprPtr& x, int64_t fallback) {
      if (!x) return fallback;
      int64_t i = ToInt(Eval(*x), e.line);
      if (i < 0) i += n;
      return std::clamp<int64_t>(i, 0, n);
    };
    const int64_t b = bound(e.args[1], 0), s = std::max(b, bound(e.args[2], n));
    if (obj.is_string()) return Value(obj.as_string().substr(b, s - b));
    return Value(List(obj.as_list().begin() + b, obj.as_list().begin() + s));
  }

  Value Binary(const Expr& e) {
    const std::string& op = e.name;
    if (op == "and") {
      Value a = Eval(*e.args[0]);
      return a.Truthy() ? Eval(*e.args[1]) : a;
    }
    if (op == "or") {
      Value a = Eval(*e.args[0]);
      return a.Truthy() ? a : Eval(*e.args[1]);
    }
    const Value a = Eval(*e.args[0]), b = Eval(*e.args[1]);
    if (op == "==") return Value(a.Equals(b));
    if (op == "!=") return Value(!a.Equals(b));
    if (op == "~") return Value(a.Str() + b.Str());
    if (op == "in" || op == "not in") {
      bool found = false;
      if (b.is_string() && a.is_string()) found = b.as_string().find(a.as_string()) != std::string::npos;
      else if (b.is_list()) found = std::any_of(b.as_list().begin(), b.as_list().end(), [&](const Value& x) { return x.Equals(a); });
      else if (b.is_dict()) found = !b.Get(a.Str()).is_undefined();
      else if (!b.is_undefined()) Fail(e.line, std::string("'in' needs a string, list or dict, not ") + b.TypeName());
      return Value(found != (op == "not in"));
    }
    if (a.is_undefined() || b.is_undefined()) Fail(e.line, "undefined value in '" + op + "'");
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int cmp;
      if (a.is_string() && b.is_string()) cmp = a.as_string().compare(b.as_string());
      else if ((a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool()))
        cmp = a.as_number() < b.as_number() ? -1 : a.as_number() > b.as_number() ? 1 : 0;
      else Fail(e.line, std::string("cannot compare ") + a.TypeName() + " and " + b.TypeName());
      return Value(op == "<" ? cmp < 0 : op == ">" ? cmp > 0 : op == "<=" ? cmp <= 0 : cmp >= 0);
    }
    if (op == "+") {
      if (a.is_string() && b.is_string()) return Value(a.as_string() + b.as_string());
      if (a.is_list() && b.is_list()) {
        List l = a.as_list();
        l.insert(l.end(), b.as_list().begin(), b.as_list().end());
        return Value(std::move(l));
      }
    }
    if (!(a.is_number() || a.is_bool()) || !(b.is_number() || b.is_bool()))
      Fail(e.line, std::string("unsupported operand types for ") + op + ": " + a.TypeName() + " and " + b.TypeName());
    const bool ints = !a.is_float() && !b.is_float();
    const double x = a.as_number(), y = b.as_number();
    if (op == "/") {
      if (y == 0) Fail(e.line, "division by zero");
      return Value(x / y);
    }
    if ((op == "//" || op == "%") && y == 0) Fail(e.line, "division by zero");
    if (ints) {
      const int64_t i = ToInt(a, e.line), j = ToInt(b, e.line);
      if (op == "+") return Value(i + j);
      if (op == "-") return Value(i - j);
      if (op == "*") return Value(i * j);
      const int64_t q = i / j - ((i % j != 0) && ((i < 0) != (j < 0)));  // Python floors
      if (op == "//") return Value(q);
      if (op == "%") return Value(i - q * j);
    }
    if (op == "+") return Value(x + y);
    if (op == "-") return Value(x - y);
    if (op == "*") return Value(x * y);
    if (op == "//") return Value(std::floor(x / y));
    if (op == "%") return Value(x - std::floor(x / y) * y);
    Fail(e.line, "unsupported operator " + op);
  }

  Value Kwarg(const Expr& e, const std::string& name, size_t position, Value fallback = Value()) {
    for (const auto& [k, v] : e.kwargs)
      if (k == name) return Eval(*v);
    return position < e.args.size() ? Eval(*e.args[position]) : fallback;
  }

  Value Call(const Expr& e) {
    const Expr& callee = *e.args[0];
    if (callee.kind == Expr::Kind::kAttr) return Method(Eval(*callee.args[0]), callee.name, e);
    if (callee.kind != Expr::Kind::kName) Fail(e.line, "only named functions can be called");
    const std::string& f = callee.name;
    if (f == "raise_exception") Fail(e.line, "template error: " + Kwarg(e, "message", 1).Str());
    if (f == "range") {
      int64_t start = 0, stop, step = 1;
      if (e.args.size() == 2) {
        stop = ToInt(Eval(*e.args[1]), e.line);
      } else {
        start = ToInt(Eval(*e.args[1]), e.line);
        stop = ToInt(Eval(*e.args[2]), e.line);
        if (e.args.size() > 3) step = ToInt(Eval(*e.args[3]), e.line);
      }
      if (step == 0) Fail(e.line, "range() step must not be zero");
      List l;
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) l.push_back(Value(i));
      return Value(std::move(l));
    }
    if (f == "namespace") {
      Dict d;
      for (const auto& [k, v] : e.kwargs) d.emplace_back(k, Eval(*v));
      return Value(std::move(d));
    }
    Fail(e.line, "unsupported function '" + f + "'");
  }

  Value Method(const Value& obj, const std::string& m, const Expr& e) {
    if (obj.is_string()) {
      const std::string& s = obj.as_string();
      const std::string arg = e.args.size() > 1 ? Eval(*e.args[1]).Str() : "";
      if (m == "strip") return Value(Strip(s, arg, true, true));
      if (m == "lstrip") return Value(Strip(s, arg, true, false));
      if (m == "rstrip") return Value(Strip(s, arg, false, true));
      if (m == "startswith") return Value(s.rfind(arg, 0) == 0);
      if (m == "endswith") return Value(s.size() >= arg.size() && s.compare(s.size() - arg.size(), arg.size(), arg) == 0);
      if (m == "upper" || m == "lower") {
        std::string out = s;
        for (char& c : out) c = m == "upper" ? std::toupper(c) : std::tolower(c);
        return Value(out);
      }
      if (m == "title") return Value(Title(s));
      if (m == "capitalize") return Value(s.empty() ? s : std::string(1, std::toupper(s[0])) + Title(s).substr(1));
      if (m == "replace") return Value(ReplaceAll(s, arg, e.args.size() > 2 ? Eval(*e.args[2]).Str() : ""));
      if (m == "split") {
        List parts;
        if (arg.empty()) {
          std::string word;
          for (char c : s + " ") {
            if (std::isspace(static_cast<unsigned char>(c))) {
              if (!word.empty()) parts.push_back(Value(word));
              word.clear();
            } else {
              word += c;
            }
          }
        } else {
          size_t b = 0;
          for (size_t p; (p = s.find(arg, b)) != std::string::npos; b = p + arg.size()) parts.push_back(Value(s.substr(b, p - b)));
          parts.push_back(Value(s.substr(b)));
        }
        return Value(std::move(parts));
      }
    }
    if (obj.is_dict()) {
      if (m == "items") {
        List l;
        for (const auto& [k, v] : obj.as_dict()) l.push_back(Value(List{Value(k), v}));
        return Value(std::move(l));
      }
      if (m == "keys" || m == "values") {
        List l;
        for (const auto& [k, v] : obj.as_dict()) l.push_back(m == "keys" ? Value(k) : v);
        return Value(std::move(l));
      }
      if (m == "get") {
        const Value v = obj.Get(Eval(*e.args.at(1)).Str());
        return v.is_undefined() ? (e.args.size() > 2 ? Eval(*e.args[2]) : Value::MakeNone()) : v;
      }
    }
    Fail(e.line, std::string("unsupported method '") + m + "' of " + obj.TypeName());
  }

  Value Filter(const Expr& e) {
    const Value v = Eval(*e.args[0]);
    const std::string& f = e.name;
    if (f == "trim") return Value(Strip(v.Str(), "", true, true));
    if (f == "length" || f == "count") {
      if (v.is_list()) return Value(static_cast<int64_t>(v.as_list().size()));
      if (v.is_dict()) return Value(static_cast<int64_t>(v.as_dict().size()));
      if (v.is_string()) return Value(static_cast<int64_t>(v.as_string().size()));
      Fail(e.line, std::string("length of ") + v.TypeName());
    }
    if (f == "tojson") {
      const Value indent = Kwarg(e, "indent", 1);
      return Value(v.ToJson(indent.is_int() ? static_cast<int>(indent.as_int()) : -1));
    }
    if (f == "string") return Value(v.Str());
    if (f == "upper" || f == "lower") {
      std::string s = v.Str();
      for (char& c : s) c = f == "upper" ? std::toupper(c) : std::tolower(c);
      return Value(s);
    }
    if (f == "title") return Value(Title(v.Str()));
    if (f == "capitalize") {
      std::string s = v.Str();
      for (char& c : s) c = std::tolower(c);
      if (!s.empty()) s[0] = std::toupper(s[0]);
      return Value(s);
    }
    if (f == "default" || f == "d") {
      const bool boolean = Kwarg(e, "boolean", 2, Value(false)).Truthy();
      return (v.is_undefined() || (boolean && !v.Truthy())) ? Kwarg(e, "default_value", 1, Value("")) : v;
    }
    if (f == "first" || f == "last") {
      if (v.is_list()) return v.as_list().empty() ? Value() : (f == "first" ? v.as_list().front() : v.as_list().back());
      if (v.is_string()) return v.as_string().empty() ? Value() : Value(std::string(1, f == "first" ? v.as_string().front() : v.as_string().back()));
      Fail(e.line, f + " of " + v.TypeName());
    }
    if (f == "join") {
      if (!v.is_list()) Fail(e.line, std::string("join of ") + v.TypeName());
      const std::string sep = Kwarg(e, "d", 1, Value("")).Str();
      std::string s;
      for (size_t i = 0; i < v.as_list().size(); ++i) s += (i ? sep : "") + v.as_list()[i].Str();
      return Value(s);
    }
    if (f == "replace") return Value(ReplaceAll(v.Str(), Kwarg(e, "old", 1).Str(), Kwarg(e, "new", 2).Str()));
    if (f == "int") return Value(v.is_string() ? static_cast<int64_t>(std::strtoll(v.as_string().c_str(), nullptr, 10)) : ToInt(v, e.line));
    if (f == "float") return Value(v.is_string() ? std::strtod(v.as_string().c_str(), nullptr) : v.as_number());
    if (f == "list") {
      if (v.is_list()) return v;
      List l;
      if (v.is_string()) for (char c : v.as_string()) l.push_back(Value(std::string(1, c)));
      else if (v.is_dict()) for (const auto& [k, x] : v.as_dict()) l.push_back(Value(k));
      return Value(std::move(l));
    }
    if (f == "reverse") {
      if (v.is_string()) return Value(std::string(v.as_string().rbegin(), v.as_string().rend()));
      if (!v.is_list()) Fail(e.line, std::string("reverse of ") + v.TypeName());
      return Value(List(v.as_list().rbegin(), v.as_list().rend()));
    }
    if (f == "items") return Method(v, "items", e);
    if (f == "safe") return v;
    if (f == "selectattr" || f == "rejectattr") {
      if (!v.is_list()) Fail(e.line, f + " of " + v.TypeName());
      const std::string attr = Kwarg(e, "attr", 1).Str();
      const std::string test = e.args.size() > 2 ? Eval(*e.args[2]).Str() : "";
      const Value operand = e.args.size() > 3 ? Eval(*e.args[3]) : Value();
      List kept;
      for (const Value& item : v.as_list()) {
        const Value x = item.Get(attr);
        bool ok;
        if (test.empty()) ok = x.Truthy();
        else if (test == "equalto" || test == "eq" || test == "==") ok = x.Equals(operand);
        else if (test == "defined") ok = !x.is_undefined();
        else if (test == "undefined") ok = x.is_undefined();
        else if (test == "none") ok = x.is_none();
        else Fail(e.line, "unsupported test '" + test + "' in " + f);
        if (ok == (f == "selectattr")) kept.push_back(item);
      }
      return Value(std::move(kept));
    }
    if (f == "map") {
      if (!v.is_list()) Fail(e.line, std::string("map of ") + v.TypeName());
      const Value attr = Kwarg(e, "attribute", 99);
      if (attr.is_undefined()) Fail(e.line, "map() is supported with attribute= only");
      List l;
      for (const Value& item : v.as_list()) l.push_back(item.Get(attr.Str()));
      return Value(std::move(l));
    }
    Fail(e.line, "unsupported filter '" + f + "'");
  }

  bool Test(const Expr& e) {
    const Value v = Eval(*e.args[0]);
    const std::string& t = e.name;
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    if (t == "none") return v.is_none();
    if (t == "string") return v.is_string();
    if (t == "number") return v.is_number();
    if (t == "integer") return v.is_int();
    if (t == "float") return v.is_float();
    if (t == "boolean") return v.is_bool();
    if (t == "true") return v.is_bool() && v.as_bool();
    if (t == "false") return v.is_bool() && !v.as_bool();
    if (t == "mapping") return v.is_dict();
    if (t == "sequence" || t == "iterable") return v.is_list() || v.is_string() || v.is_dict();
    if (t == "odd" || t == "even") return (ToInt(v, e.line) % 2 != 0) == (t == "odd");
    if (t == "divisibleby") return ToInt(v, e.line) % std::max<int64_t>(1, ToInt(Eval(*e.args.at(1)), e.line)) == 0;
    if (t == "eq" || t == "equalto" || t == "sameas") return v.Equals(Eval(*e.args.at(1)));
    Fail(e.line, "unsupported test '" + t + "'");
  }

  std::vector<std::unordered_map<std::string, Value>> scopes_;
};

}  // namespace

Result<std::string> Render(const Body& body, const Dict& globals) {
  try {
    Interpreter interpreter(globals);
    std::string out;
    interpreter.Run(body, out);
    return out;
  } catch (const RenderError& e) {
    return Status::Error(e.message);
  } catch (const std::out_of_range&) {
    return Status::Error("a filter or method is missing an argument");
  }
}

}  // namespace kvfuse::tokenizer::jinja
