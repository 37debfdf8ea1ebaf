#include "api/logs/filter_pattern.h"

#include <cctype>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>

#include "api/errors.h"
#include "base/json.h"
#include "base/strings.h"
#include "model/cluster_query.h"

namespace kecs::api::logs {

namespace {

AwsError Invalid(std::string message = "Invalid filter pattern") {
  return AwsError("InvalidParameterException", std::move(message));
}

bool TermChar(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

}  // namespace

// ---- JSON patterns ----

struct Step {
  enum Kind { kMember, kIndex, kAny } kind = kMember;
  std::string name;
  size_t index = 0;
};

struct JsonExpr {
  enum Kind { kAnd, kOr, kCmp, kIsNull, kNotExists, kIsTrue, kIsFalse } kind = kCmp;
  std::shared_ptr<const JsonExpr> lhs, rhs;
  std::vector<Step> selector;
  std::string op;
  std::string value;   // a string comparison's value (may hold * wildcards)
  bool numeric = false;
  double number = 0;
};

namespace {

void Resolve(const Json& node, const std::vector<Step>& steps, size_t i, std::vector<const Json*>& out) {
  if (i == steps.size()) {
    out.push_back(&node);
    return;
  }
  const Step& s = steps[i];
  if (s.kind == Step::kMember) {
    if (!node.is_object()) return;
    auto it = node.find(s.name);
    if (it != node.end()) Resolve(*it, steps, i + 1, out);
  } else if (s.kind == Step::kIndex) {
    if (node.is_array() && s.index < node.size()) Resolve(node[s.index], steps, i + 1, out);
  } else {
    if (node.is_object() || node.is_array()) {
      for (const auto& child : node) Resolve(child, steps, i + 1, out);
    }
  }
}

bool Compare(const JsonExpr& e, const Json& v) {
  if (e.numeric) {
    if (!v.is_number()) return false;
    double x = v.get<double>();
    if (e.op == "=") return x == e.number;
    if (e.op == "!=") return x != e.number;
    if (e.op == "<") return x < e.number;
    if (e.op == "<=") return x <= e.number;
    if (e.op == ">") return x > e.number;
    return x >= e.number;
  }
  std::string text;
  if (v.is_string()) {
    text = v.get<std::string>();
  } else if (v.is_number() || v.is_boolean()) {
    text = v.dump();
  } else {
    return e.op == "!=";
  }
  bool eq = model::WildcardMatch(e.value, text);  // ECS's cluster-query glob, the same semantics
  return e.op == "=" ? eq : !eq;
}

bool Eval(const JsonExpr& e, const Json& doc) {
  switch (e.kind) {
    case JsonExpr::kAnd: return Eval(*e.lhs, doc) && Eval(*e.rhs, doc);
    case JsonExpr::kOr: return Eval(*e.lhs, doc) || Eval(*e.rhs, doc);
    default: break;
  }
  std::vector<const Json*> nodes;
  Resolve(doc, e.selector, 0, nodes);
  switch (e.kind) {
    case JsonExpr::kNotExists: return nodes.empty();
    case JsonExpr::kIsNull:
      for (const Json* n : nodes) if (n->is_null()) return true;
      return false;
    case JsonExpr::kIsTrue:
    case JsonExpr::kIsFalse:
      for (const Json* n : nodes) {
        if (n->is_boolean() && n->get<bool>() == (e.kind == JsonExpr::kIsTrue)) return true;
      }
      return false;
    default: break;
  }
  for (const Json* n : nodes) {
    if (Compare(e, *n)) return true;
  }
  return false;
}

class JsonParser {
 public:
  explicit JsonParser(std::string_view s) : s_(s) {}

  std::shared_ptr<const JsonExpr> Parse() {
    auto e = ParseOr();
    SkipSpace();
    if (pos_ != s_.size()) throw Invalid();
    return e;
  }

 private:
  void SkipSpace() {
    while (pos_ < s_.size() && IsSpace(s_[pos_])) ++pos_;
  }
  bool Eat(std::string_view tok) {
    SkipSpace();
    if (s_.substr(pos_, tok.size()) == tok) {
      pos_ += tok.size();
      return true;
    }
    return false;
  }
  // A keyword (IS, NULL, NOT, EXISTS, TRUE, FALSE), case-insensitive, ending at a boundary.
  bool EatWord(std::string_view word) {
    SkipSpace();
    if (pos_ + word.size() > s_.size()) return false;
    if (ToLower(s_.substr(pos_, word.size())) != ToLower(word)) return false;
    size_t end = pos_ + word.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) return false;
    pos_ = end;
    return true;
  }

  // `||` binds looser than `&&`: an OR of ANDs of primaries.
  std::shared_ptr<const JsonExpr> ParseOr() { return ParseChain(JsonExpr::kOr); }
  std::shared_ptr<const JsonExpr> ParseChain(JsonExpr::Kind kind) {
    auto next = [&] { return kind == JsonExpr::kOr ? ParseChain(JsonExpr::kAnd) : ParsePrimary(); };
    auto lhs = next();
    while (Eat(kind == JsonExpr::kOr ? "||" : "&&")) {
      auto e = std::make_shared<JsonExpr>();
      e->kind = kind;
      e->lhs = lhs;
      e->rhs = next();
      lhs = e;
    }
    return lhs;
  }
  std::shared_ptr<const JsonExpr> ParsePrimary() {
    if (Eat("(")) {
      auto e = ParseOr();
      if (!Eat(")")) throw Invalid();
      return e;
    }
    auto e = std::make_shared<JsonExpr>();
    e->selector = ParseSelector();
    if (EatWord("IS")) {
      if (EatWord("NULL")) {
        e->kind = JsonExpr::kIsNull;
      } else if (EatWord("TRUE")) {
        e->kind = JsonExpr::kIsTrue;
      } else if (EatWord("FALSE")) {
        e->kind = JsonExpr::kIsFalse;
      } else {
        throw Invalid();
      }
      return e;
    }
    if (EatWord("NOT")) {
      if (!EatWord("EXISTS")) throw Invalid();
      e->kind = JsonExpr::kNotExists;
      return e;
    }
    for (std::string_view op : {"!=", "<=", ">=", "=", "<", ">"}) {
      if (Eat(op)) {
        e->op = std::string(op);
        break;
      }
    }
    if (e->op.empty()) throw Invalid();
    ParseValue(*e);
    return e;
  }

  std::vector<Step> ParseSelector() {
    SkipSpace();
    if (pos_ >= s_.size() || s_[pos_] != '$') throw Invalid();
    ++pos_;
    std::vector<Step> steps;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '.') {
        ++pos_;
        Step st;
        if (pos_ < s_.size() && s_[pos_] == '*') {
          st.kind = Step::kAny;
          ++pos_;
        } else {
          size_t start = pos_;
          while (pos_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[pos_])) || s_[pos_] == '_' ||
                                      s_[pos_] == '-' || s_[pos_] == '@' || s_[pos_] == ':' ||
                                      static_cast<unsigned char>(s_[pos_]) >= 0x80)) {
            ++pos_;
          }
          if (start == pos_) throw Invalid();
          st.name = std::string(s_.substr(start, pos_ - start));
        }
        steps.push_back(std::move(st));
      } else if (c == '[') {
        ++pos_;
        Step st;
        if (pos_ < s_.size() && s_[pos_] == '*') {
          st.kind = Step::kAny;
          ++pos_;
        } else {
          size_t start = pos_;
          while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
          if (start == pos_ || pos_ - start > 9) throw Invalid();
          st.kind = Step::kIndex;
          st.index = std::stoul(std::string(s_.substr(start, pos_ - start)));
        }
        if (pos_ >= s_.size() || s_[pos_] != ']') throw Invalid();
        ++pos_;
        steps.push_back(std::move(st));
      } else {
        break;
      }
    }
    if (steps.empty()) throw Invalid();
    return steps;
  }

  void ParseValue(JsonExpr& e) {
    SkipSpace();
    if (pos_ >= s_.size()) throw Invalid();
    if (s_[pos_] == '"') {
      ++pos_;
      std::string v;
      bool closed = false;
      while (pos_ < s_.size()) {
        char c = s_[pos_++];
        if (c == '\\' && pos_ < s_.size()) {
          v += s_[pos_++];
        } else if (c == '"') {
          closed = true;
          break;
        } else {
          v += c;
        }
      }
      if (!closed) throw Invalid();
      if (e.op != "=" && e.op != "!=") throw Invalid();
      e.value = std::move(v);
      return;
    }
    size_t start = pos_;
    while (pos_ < s_.size() && !IsSpace(s_[pos_]) && s_[pos_] != ')' && s_[pos_] != '&' && s_[pos_] != '|' &&
           s_[pos_] != '}') {
      ++pos_;
    }
    std::string word(s_.substr(start, pos_ - start));
    if (word.empty()) throw Invalid();
    char* end = nullptr;
    double d = std::strtod(word.c_str(), &end);
    if (end && *end == '\0' && std::isfinite(d) &&
        (std::isdigit(static_cast<unsigned char>(word[0])) || word[0] == '-' || word[0] == '+' || word[0] == '.')) {
      e.numeric = true;
      e.number = d;
      return;
    }
    if (e.op != "=" && e.op != "!=") throw Invalid();
    e.value = std::move(word);
  }

  std::string_view s_;
  size_t pos_ = 0;
};

// One term of a term pattern, its prefix removed: a quoted phrase (unescaped) or a bare
// term of letters, digits and _.
std::string Term(std::string_view tok, std::string_view whole) {
  if (!tok.empty() && tok.front() == '"') {
    if (tok.size() < 3 || tok.back() != '"') throw Invalid(fmt::format("Invalid character(s) in term '{}'", whole));
    std::string out;
    for (size_t i = 1; i + 1 < tok.size(); ++i) {
      if (tok[i] == '\\' && i + 2 < tok.size()) ++i;
      out += tok[i];
    }
    return out;
  }
  if (tok.empty()) throw Invalid(fmt::format("Invalid character(s) in term '{}'", whole));
  for (char c : tok) {
    if (!TermChar(static_cast<unsigned char>(c))) {
      throw Invalid(fmt::format("Invalid character(s) in term '{}'", whole));
    }
  }
  return std::string(tok);
}

// Splits at whitespace outside double quotes.
std::vector<std::string_view> Tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    if (i >= s.size()) break;
    size_t start = i;
    bool quoted = false;
    while (i < s.size() && (quoted || !IsSpace(s[i]))) {
      if (s[i] == '\\' && quoted && i + 1 < s.size()) {
        i += 2;
        continue;
      }
      if (s[i] == '"') quoted = !quoted;
      ++i;
    }
    if (quoted) throw Invalid(fmt::format("Invalid character(s) in term '{}'", s.substr(start)));
    out.push_back(s.substr(start, i - start));
  }
  return out;
}

}  // namespace

Pattern Pattern::Parse(std::string_view text) {
  Pattern p;
  size_t b = 0, e = text.size();
  while (b < e && IsSpace(text[b])) ++b;
  while (e > b && IsSpace(text[e - 1])) --e;
  std::string_view t = text.substr(b, e - b);
  if (t.empty()) return p;
  if (t.front() == '{') {
    if (t.back() != '}') throw Invalid("If a filter pattern starts with '{' it must end with '}'");
    p.json_ = JsonParser(t.substr(1, t.size() - 2)).Parse();
    return p;
  }
  if (t.front() == '[') {
    throw Invalid("Invalid filter pattern: kecs does not support space-delimited ([...]) filter patterns");
  }
  for (std::string_view tok : Tokens(t)) {
    if (tok.front() == '?') {
      p.any_.push_back(Term(tok.substr(1), tok));
    } else if (tok.front() == '-' && tok.size() > 1) {
      p.none_.push_back(Term(tok.substr(1), tok));
    } else {
      p.required_.push_back(Term(tok, tok));
    }
  }
  return p;
}

bool Pattern::Matches(std::string_view message) const {
  if (json_) {
    auto doc = ParseJson(message);
    return doc && doc->is_object() && Eval(*json_, *doc);
  }
  for (const auto& r : required_) {
    if (message.find(r) == std::string_view::npos) return false;
  }
  for (const auto& n : none_) {
    if (message.find(n) != std::string_view::npos) return false;
  }
  if (any_.empty()) return true;
  for (const auto& a : any_) {
    if (message.find(a) != std::string_view::npos) return true;
  }
  return false;
}

}  // namespace kecs::api::logs
