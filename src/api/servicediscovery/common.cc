#include "api/servicediscovery/common.h"

#include <algorithm>
#include <map>
#include <mutex>
#include <regex>

#include <fmt/format.h>

#include "api/pagination.h"
#include "base/strings.h"

namespace kecs::api::servicediscovery {

AwsError InvalidInput(std::string message) { return AwsError("InvalidInput", std::move(message)); }
AwsError NamespaceNotFound() { return AwsError("NamespaceNotFound", "Namespace not found."); }
AwsError ServiceNotFound() { return AwsError("ServiceNotFound", "Service not found."); }
AwsError InstanceNotFound() { return AwsError("InstanceNotFound", "Instance not found."); }
AwsError OperationNotFound() { return AwsError("OperationNotFound", "Operation not found."); }

void Check(const Status& st) {
  ThrowIfError(st);
}

Json Public(const Json& doc) { return WithoutInternalMembers(doc); }

state::Object RequireNamespace(state::Tx& tx, const RequestContext& ctx, const std::string& id_or_arn) {
  auto o = Check(tx.Get(sd::kNamespace, ctx.region, sd::IdFromArnOrId(id_or_arn)));
  if (!o) throw NamespaceNotFound();
  return *o;
}

state::Object RequireService(state::Tx& tx, const RequestContext& ctx, const std::string& id_or_arn) {
  auto o = Check(sd::FindService(tx, ctx.region, id_or_arn));
  if (!o) throw ServiceNotFound();
  return *o;
}

void CheckPattern(const std::string& value, const std::string& path, const std::string& pattern) {
  static std::mutex mu;
  static std::map<std::string, std::regex> cache;
  const std::regex* re;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = cache.find(pattern);
    if (it == cache.end()) it = cache.emplace(pattern, std::regex(pattern)).first;
    re = &it->second;
  }
  // std::regex is safe to use from several threads once built; the map never drops one.
  if (std::regex_search(value, *re)) return;
  throw InvalidInput(fmt::format(
      "1 validation error detected: Value '{}' at '{}' failed to satisfy constraint: Member must "
      "satisfy regular expression pattern: {}",
      value, path, pattern));
}

void ValidateTags(const Json& tags) {
  if (!tags.is_array()) return;
  for (const auto& t : tags) {
    if (JStr(t, "Key").starts_with("aws:")) {
      throw InvalidInput("Tag keys starting with 'aws:' are reserved for system use.");
    }
  }
  if (tags.size() > 50) {
    throw AwsError("TooManyTagsException", "The resource can have up to 50 tags.");
  }
}

Json MergeTags(const Json& tags, const Json& add) { return MergeKeyValues(tags, add, "Key", "Value"); }

Json RemoveTags(const Json& tags, const Json& keys) { return RemoveKeyValues(tags, keys, "Key"); }

void PageInto(Json& out, const char* list_member, const std::vector<std::string>& keys,
              std::vector<Json> items, const Json& in) {
  size_t max = static_cast<size_t>(JOptInt(in, "MaxResults").value_or(100));
  std::optional<std::string> token = JOptStr(in, "NextToken");
  auto page = Paginate(keys, token, max);
  if (!page) throw InvalidInput("The NextToken value is not valid.");
  out[list_member] = std::vector<Json>(std::make_move_iterator(items.begin() + page->begin),
                                       std::make_move_iterator(items.begin() + page->end));
  if (page->next_token) out["NextToken"] = *page->next_token;
}

std::vector<Filter> ParseFilters(const Json& in, const std::vector<std::string>& allowed) {
  std::map<std::string, std::vector<std::string>> conditions;
  for (const auto& a : allowed) {
    size_t colon = a.find(':');
    conditions[a.substr(0, colon)] = Split(a.substr(colon + 1), ',');
  }
  std::vector<Filter> out;
  for (const auto& f : in.value("Filters", Json::array())) {
    Filter filter{JStr(f, "Name"), JStr(f, "Condition", "EQ"), {}};
    for (const auto& v : f.value("Values", Json::array())) {
      if (v.is_string()) filter.values.push_back(v.get<std::string>());
    }
    const auto& ok = conditions[filter.name];
    if (std::find(ok.begin(), ok.end(), filter.condition) == ok.end()) {
      throw InvalidInput(fmt::format("The {} condition is not supported for the {} filter.",
                                     filter.condition, filter.name));
    }
    if ((filter.condition == "EQ" || filter.condition == "BEGINS_WITH") && filter.values.size() != 1) {
      throw InvalidInput(fmt::format("The {} condition requires exactly one value for the {} filter.",
                                     filter.condition, filter.name));
    }
    if (filter.condition == "BETWEEN" && filter.values.size() != 2) {
      throw InvalidInput(fmt::format(
          "The BETWEEN condition requires exactly two values (a start and an end date) for the {} filter.",
          filter.name));
    }
    if (filter.values.empty()) {
      throw InvalidInput(fmt::format("The {} filter requires at least one value.", filter.name));
    }
    out.push_back(std::move(filter));
  }
  return out;
}

bool Matches(const Filter& f, const std::string& value) {
  if (f.condition == "BEGINS_WITH") return value.starts_with(f.values.front());
  for (const auto& v : f.values) {
    if (v == value) return true;
  }
  return false;
}

}  // namespace kecs::api::servicediscovery
