// ECR lifecycle policies: validation in ECR's words, and which images a policy expires.
#include <algorithm>
#include <map>
#include <set>

#include <fmt/format.h>

#include "api/ecr/ecr_api.h"

namespace kecs::api::ecr {
namespace {

Status Invalid(const std::string& why) {
  return InvalidArgument("Lifecycle policy validation failure: " + why);
}

bool Glob(std::string_view pattern, std::string_view s) {
  size_t p = 0, i = 0, star = std::string_view::npos, mark = 0;
  while (i < s.size()) {
    if (p < pattern.size() && pattern[p] == s[i]) {
      ++p;
      ++i;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = i;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      i = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool Selects(const LifecycleRule& r, const LifecycleImage& img) {
  if (r.tag_status == "any") return true;
  if (r.tag_status == "untagged") return img.tags.empty();
  if (img.tags.empty()) return false;
  for (const auto& prefix : r.tag_prefixes) {
    if (std::none_of(img.tags.begin(), img.tags.end(), [&](const std::string& t) { return t.starts_with(prefix); })) {
      return false;
    }
  }
  for (const auto& pattern : r.tag_patterns) {
    if (std::none_of(img.tags.begin(), img.tags.end(), [&](const std::string& t) { return Glob(pattern, t); })) {
      return false;
    }
  }
  return true;
}

Result<std::vector<std::string>> StringList(const Json& sel, const char* key) {
  std::vector<std::string> out;
  if (!sel.contains(key)) return out;
  const Json& v = sel[key];
  if (!v.is_array() || v.empty()) return Invalid(fmt::format("{} must be a non-empty array of strings", key));
  for (const auto& e : v) {
    if (!e.is_string() || e.get<std::string>().empty()) {
      return Invalid(fmt::format("{} must be a non-empty array of strings", key));
    }
    out.push_back(e.get<std::string>());
  }
  return out;
}

}  // namespace

Result<std::vector<LifecycleRule>> ParseLifecyclePolicy(const std::string& text) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return Invalid("the policy is not a JSON object");
  if (!doc.contains("rules") || !doc["rules"].is_array() || doc["rules"].empty()) {
    return Invalid("'rules' must be a non-empty array");
  }
  std::vector<LifecycleRule> rules;
  std::set<int64_t> priorities;
  for (const Json& r : doc["rules"]) {
    if (!r.is_object()) return Invalid("each rule must be an object");
    LifecycleRule rule;
    if (!r.contains("rulePriority") || !r["rulePriority"].is_number_integer() || r["rulePriority"].get<int64_t>() < 1) {
      return Invalid("'rulePriority' must be a positive integer");
    }
    rule.priority = r["rulePriority"].get<int64_t>();
    if (!priorities.insert(rule.priority).second) {
      return Invalid(fmt::format("rulePriority {} is used by more than one rule", rule.priority));
    }
    if (!r.contains("action") || !r["action"].is_object() || r["action"].value("type", "") != "expire") {
      return Invalid("'action.type' must be 'expire'");
    }
    if (!r.contains("selection") || !r["selection"].is_object()) return Invalid("'selection' is required");
    const Json& sel = r["selection"];
    rule.tag_status = sel.value("tagStatus", "");
    if (rule.tag_status != "tagged" && rule.tag_status != "untagged" && rule.tag_status != "any") {
      return Invalid("'tagStatus' must be one of tagged, untagged, any");
    }
    ASSIGN_OR_RETURN(rule.tag_prefixes, StringList(sel, "tagPrefixList"));
    ASSIGN_OR_RETURN(rule.tag_patterns, StringList(sel, "tagPatternList"));
    if (!rule.tag_prefixes.empty() && !rule.tag_patterns.empty()) {
      return Invalid("a rule may have tagPrefixList or tagPatternList, not both");
    }
    if (rule.tag_status == "tagged" && rule.tag_prefixes.empty() && rule.tag_patterns.empty()) {
      return Invalid("tagPrefixList or tagPatternList is required when tagStatus is tagged");
    }
    if (rule.tag_status != "tagged" && (!rule.tag_prefixes.empty() || !rule.tag_patterns.empty())) {
      return Invalid("tagPrefixList and tagPatternList are allowed only when tagStatus is tagged");
    }
    rule.count_type = sel.value("countType", "");
    if (rule.count_type != "imageCountMoreThan" && rule.count_type != "sinceImagePushed") {
      return Invalid("'countType' must be imageCountMoreThan or sinceImagePushed");
    }
    if (!sel.contains("countNumber") || !sel["countNumber"].is_number_integer() ||
        sel["countNumber"].get<int64_t>() < 1) {
      return Invalid("'countNumber' must be a positive integer");
    }
    rule.count_number = sel["countNumber"].get<int64_t>();
    if (rule.count_type == "sinceImagePushed" && sel.value("countUnit", "") != "days") {
      return Invalid("'countUnit' must be 'days' when countType is sinceImagePushed");
    }
    if (rule.count_type == "imageCountMoreThan" && sel.contains("countUnit")) {
      return Invalid("'countUnit' is not allowed when countType is imageCountMoreThan");
    }
    rules.push_back(std::move(rule));
  }
  std::sort(rules.begin(), rules.end(), [](const auto& a, const auto& b) { return a.priority < b.priority; });
  for (size_t i = 0; i + 1 < rules.size(); ++i) {
    if (rules[i].tag_status == "any") {
      return Invalid("a rule with tagStatus 'any' must have the highest rulePriority");
    }
  }
  return rules;
}

std::vector<std::string> ExpiredImages(const std::vector<LifecycleRule>& rules,
                                       const std::vector<LifecycleImage>& images, double now) {
  std::set<std::string> claimed;
  std::vector<std::string> expired;
  for (const auto& rule : rules) {
    std::vector<const LifecycleImage*> selected;
    for (const auto& img : images) {
      if (!claimed.count(img.digest) && Selects(rule, img)) selected.push_back(&img);
    }
    for (const auto* img : selected) claimed.insert(img->digest);
    if (rule.count_type == "imageCountMoreThan") {
      std::stable_sort(selected.begin(), selected.end(),
                       [](const auto* a, const auto* b) { return a->pushed_at > b->pushed_at; });
      for (size_t i = static_cast<size_t>(rule.count_number); i < selected.size(); ++i) {
        expired.push_back(selected[i]->digest);
      }
    } else {
      double cutoff = now - static_cast<double>(rule.count_number) * 86400.0;
      for (const auto* img : selected) {
        if (img->pushed_at < cutoff) expired.push_back(img->digest);
      }
    }
  }
  return expired;
}

}  // namespace kecs::api::ecr
