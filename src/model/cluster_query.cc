#include "model/cluster_query.h"

#include <cctype>
#include <cstdlib>
#include <vector>

namespace kecs::model {

struct ClusterQuery::Node {
  enum Kind { kAnd, kOr, kNot, kCompare } kind;
  std::shared_ptr<const Node> a, b;
  std::string subject, op;
  std::vector<std::string> values;
};

namespace {

using NodePtr = std::shared_ptr<const ClusterQuery::Node>;
using Node = ClusterQuery::Node;

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Result<NodePtr> ParseAll() {
    auto n = ParseOr();
    if (!n.ok()) return n;
    Skip();
    if (pos_ != s_.size()) return Error("unexpected text");
    return n;
  }

 private:
  Status Error(const std::string& what) {
    return InvalidArgument("invalid cluster query expression (" + what + " at position " +
                           std::to_string(pos_) + ")");
  }
  void Skip() {
    while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_;
  }
  bool Keyword(std::string_view kw) {
    Skip();
    if (s_.substr(pos_, kw.size()) != kw) return false;
    size_t end = pos_ + kw.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_')) {
      return false;
    }
    pos_ = end;
    return true;
  }
  bool Symbol(std::string_view sym) {
    Skip();
    if (s_.substr(pos_, sym.size()) != sym) return false;
    pos_ += sym.size();
    return true;
  }
  std::string Word() {
    Skip();
    if (pos_ < s_.size() && (s_[pos_] == '\'' || s_[pos_] == '"')) {
      char q = s_[pos_++];
      size_t start = pos_;
      while (pos_ < s_.size() && s_[pos_] != q) ++pos_;
      std::string w(s_.substr(start, pos_ - start));
      if (pos_ < s_.size()) ++pos_;
      return w;
    }
    size_t start = pos_;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isspace(static_cast<unsigned char>(c)) || c == '(' || c == ')' || c == '[' ||
          c == ']' || c == ',' || c == '=' || c == '!' || c == '<' || c == '>') {
        break;
      }
      ++pos_;
    }
    return std::string(s_.substr(start, pos_ - start));
  }

  Result<NodePtr> ParseOr() {
    auto left = ParseAnd();
    if (!left.ok()) return left;
    NodePtr n = *left;
    while (Keyword("or") || Symbol("||")) {
      auto right = ParseAnd();
      if (!right.ok()) return right;
      n = std::make_shared<Node>(Node{Node::kOr, n, *right, "", "", {}});
    }
    return n;
  }
  Result<NodePtr> ParseAnd() {
    auto left = ParseUnary();
    if (!left.ok()) return left;
    NodePtr n = *left;
    while (Keyword("and") || Symbol("&&")) {
      auto right = ParseUnary();
      if (!right.ok()) return right;
      n = std::make_shared<Node>(Node{Node::kAnd, n, *right, "", "", {}});
    }
    return n;
  }
  Result<NodePtr> ParseUnary() {
    size_t save = pos_;
    if (Keyword("not") && Symbol("(")) {
      auto inner = ParseOr();
      if (!inner.ok()) return inner;
      if (!Symbol(")")) return Error("missing ')'");
      return NodePtr(std::make_shared<Node>(Node{Node::kNot, *inner, nullptr, "", "", {}}));
    }
    pos_ = save;
    if (Symbol("(")) {
      auto inner = ParseOr();
      if (!inner.ok()) return inner;
      if (!Symbol(")")) return Error("missing ')'");
      return inner;
    }
    return ParseCompare();
  }
  Result<NodePtr> ParseCompare() {
    std::string subject = Word();
    if (subject.empty()) return Error("expected a subject");
    Node n{Node::kCompare, nullptr, nullptr, subject, "", {}};
    if (Keyword("exists")) {
      n.op = "exists";
    } else if (Symbol("!exists")) {
      n.op = "!exists";
    } else if (Keyword("not")) {
      if (!Keyword("in")) return Error("expected 'in' after 'not'");
      n.op = "not in";
    } else if (Keyword("in")) {
      n.op = "in";
    } else {
      for (const char* op : {"==", "!=", ">=", "<=", "=~", "!~", ">", "<"}) {
        if (Symbol(op)) {
          n.op = op;
          break;
        }
      }
      if (n.op.empty()) return Error("expected an operator");
    }
    if (n.op == "in" || n.op == "not in") {
      if (!Symbol("[")) return Error("expected '['");
      while (true) {
        std::string v = Word();
        if (v.empty() && !Symbol("]")) return Error("expected a value");
        n.values.push_back(v);
        if (Symbol(",")) continue;
        if (Symbol("]")) break;
        return Error("expected ',' or ']'");
      }
    } else if (n.op != "exists" && n.op != "!exists") {
      std::string v = Word();
      if (v.empty()) return Error("expected a value");
      n.values.push_back(v);
    }
    return NodePtr(std::make_shared<Node>(std::move(n)));
  }

  std::string_view s_;
  size_t pos_ = 0;
};

bool Numeric(const std::string& s, double* out) {
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return *end == '\0';
}

bool CompareOne(const std::string& op, const std::string& value, const std::string& want);

bool Eval(const Node& n, const ClusterQuery::Lookup& lookup) {
  switch (n.kind) {
    case Node::kAnd: return Eval(*n.a, lookup) && Eval(*n.b, lookup);
    case Node::kOr: return Eval(*n.a, lookup) || Eval(*n.b, lookup);
    case Node::kNot: return !Eval(*n.a, lookup);
    case Node::kCompare: break;
  }
  // A subject may have several values (task:group on an instance running several
  // groups): positive operators hold when any value matches, negated ones when none does.
  std::vector<std::string> vals = lookup(n.subject);
  if (n.op == "exists") return !vals.empty();
  if (n.op == "!exists") return vals.empty();
  if (n.op == "in" || n.op == "not in") {
    bool found = false;
    for (const auto& x : n.values) {
      for (const auto& v : vals) found = found || WildcardMatch(x, v);
    }
    return n.op == "in" ? found : !found;
  }
  if (n.op == "!=" || n.op == "!~") {
    Node positive = n;
    positive.op = n.op == "!=" ? "==" : "=~";
    return !Eval(positive, lookup);
  }
  for (const auto& v : vals) {
    if (CompareOne(n.op, v, n.values.front())) return true;
  }
  return false;
}

bool CompareOne(const std::string& op, const std::string& value, const std::string& want) {
  const std::string* v = &value;
  if (op == "==") return *v == want;
  if (op == "=~") return WildcardMatch(want, *v);
  double a = 0, b = 0;
  if (!Numeric(*v, &a) || !Numeric(want, &b)) {
    int c = v->compare(want);
    if (op == ">") return c > 0;
    if (op == ">=") return c >= 0;
    if (op == "<") return c < 0;
    return c <= 0;
  }
  if (op == ">") return a > b;
  if (op == ">=") return a >= b;
  if (op == "<") return a < b;
  return a <= b;
}

}  // namespace

bool WildcardMatch(std::string_view p, std::string_view s) {
  size_t pi = 0, si = 0, star = std::string_view::npos, mark = 0;
  while (si < s.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = si;
    } else if (pi < p.size() && p[pi] == s[si]) {
      ++pi;
      ++si;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      si = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

Result<ClusterQuery> ClusterQuery::Parse(std::string_view expr) {
  Parser p(expr);
  auto root = p.ParseAll();
  if (!root.ok()) return root.status();
  ClusterQuery q;
  q.root_ = *root;
  return q;
}

bool ClusterQuery::Matches(const Lookup& lookup) const { return Eval(*root_, lookup); }

}  // namespace kecs::model
