#pragma once
// CloudWatch Logs filter patterns (FilterLogEvents' filterPattern), parsed once per request
// and matched against each event's message.
//
// Two syntaxes, as AWS documents them:
//   - Terms: whitespace-separated terms that must all appear (case-sensitive substrings);
//     "quoted phrases" match exactly, with \" and \\ escapes; `?term` terms match when any
//     one of them appears; `-term` (or -"phrase") excludes events that hold it. Unquoted
//     terms are letters, digits and _ (plus . : / @ # and inner - are refused, as AWS
//     refuses them, with "Invalid character(s) in term '...'").
//   - JSON: `{ <expr> }` over messages that are JSON objects, with selectors $.a.b, $.a[0],
//     $.*, comparisons = != (strings, with * wildcards, or numbers) and < <= > >=
//     (numbers), IS NULL, NOT EXISTS, IS TRUE, IS FALSE, && and || (&& binds tighter) and
//     parentheses.
// Space-delimited patterns ("[ip, user, ...]") are refused as not supported by kecs.
// An empty pattern matches everything. Parse errors are InvalidParameterException with
// AWS's wording. Pure; a Pattern is immutable and safe to share across threads.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kecs::api::logs {

struct JsonExpr;

class Pattern {
 public:
  // Throws AwsError (InvalidParameterException) when `text` is not a valid pattern.
  static Pattern Parse(std::string_view text);
  bool Matches(std::string_view message) const;
  // Substrings every matching message contains (terms and phrases that must appear): a
  // store may use them to skip rows before Matches runs. Empty for JSON patterns.
  const std::vector<std::string>& required() const { return required_; }
  bool match_all() const { return !json_ && required_.empty() && any_.empty() && none_.empty(); }

 private:
  std::vector<std::string> required_;  // all must appear
  std::vector<std::string> any_;       // ?terms: one must appear (when any are given)
  std::vector<std::string> none_;      // -terms: none may appear
  std::shared_ptr<const JsonExpr> json_;
};

}  // namespace kecs::api::logs
