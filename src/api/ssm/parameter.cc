#include "api/ssm/parameter.h"

#include <algorithm>
#include <cctype>

#include <fmt/format.h>

#include "state/records/reader.h"

namespace kecs::api::ssm {

const ParameterVersion* Parameter::Find(int64_t version) const {
  for (const auto& v : versions) {
    if (v.version == version) return &v;
  }
  return nullptr;
}

const ParameterVersion* Parameter::FindLabel(const std::string& label) const {
  for (const auto& v : versions) {
    if (std::find(v.labels.begin(), v.labels.end(), label) != v.labels.end()) return &v;
  }
  return nullptr;
}

std::string ParentPath(const std::string& name) {
  if (!name.starts_with("/")) return "";
  size_t slash = name.rfind('/');
  return slash == 0 ? "/" : name.substr(0, slash);
}

std::string ParameterArn(const std::string& region, const std::string& account, const std::string& name) {
  return fmt::format("arn:aws:ssm:{}:{}:parameter{}{}", region, account, name.starts_with("/") ? "" : "/", name);
}

namespace {

Json VersionToJson(const ParameterVersion& v) {
  Json j = {{"version", v.version},   {"type", v.type},         {"value", v.value},
            {"description", v.description}, {"allowedPattern", v.allowed_pattern},
            {"tier", v.tier},         {"dataType", v.data_type}, {"lastModified", v.last_modified},
            {"lastModifiedUser", v.last_modified_user}, {"labels", v.labels}};
  if (!v.key_id.empty()) j["keyId"] = v.key_id;
  return j;
}

}  // namespace

state::Object EncodeParameter(const Parameter& p, const std::string& account) {
  state::Object o;
  o.kind = kParameterKind;
  o.region = p.region;
  o.id = p.name;
  o.name = p.name;
  o.parent = ParentPath(p.name);
  o.status = "ACTIVE";
  o.seq = p.seq;
  o.doc = MetadataToAws(p, account);
  Json versions = Json::array();
  for (const auto& v : p.versions) versions.push_back(VersionToJson(v));
  Json tags = Json::array();
  for (const auto& t : p.tags) tags.push_back({{"key", t.key}, {"value", t.value}});
  o.internal = {{"versions", versions}, {"tags", tags}};
  return o;
}

Result<Parameter> DecodeParameter(const state::Object& row) {
  Parameter p;
  p.region = row.region;
  p.name = row.id;
  p.seq = row.seq;
  std::string where = "SSM parameter " + row.id;
  state::records::Reader r(row.internal, where);
  Json versions = r.Raw("versions", Json::value_t::array, Json::array());
  Json tags = r.Raw("tags", Json::value_t::array, Json::array());
  if (!r.error().empty()) return Internal(r.error());
  for (const auto& j : versions) {
    state::records::Reader vr(j, where);
    ParameterVersion v;
    v.version = vr.Int("version", 0);
    v.type = vr.Str("type");
    v.value = vr.Str("value");
    v.key_id = vr.Str("keyId", false);
    v.description = vr.Str("description", false);
    v.allowed_pattern = vr.Str("allowedPattern", false);
    v.tier = vr.Str("tier");
    v.data_type = vr.Str("dataType");
    v.last_modified = vr.Num("lastModified");
    v.last_modified_user = vr.Str("lastModifiedUser", false);
    Json labels = vr.Raw("labels", Json::value_t::array, Json::array());
    if (!vr.error().empty()) return Internal(vr.error());
    for (const auto& l : labels) {
      if (!l.is_string()) return Internal(where + ": a label is not a string");
      v.labels.push_back(l.get<std::string>());
    }
    p.versions.push_back(std::move(v));
  }
  for (const auto& j : tags) {
    state::records::Reader tr(j, where);
    Tag t{tr.Str("key"), tr.Str("value", false)};
    if (!tr.error().empty()) return Internal(tr.error());
    p.tags.push_back(std::move(t));
  }
  if (p.versions.empty()) return Internal(where + " has no versions");
  return p;
}

namespace {

// The members AWS leaves out when they are empty.
void AddOptional(Json& j, const ParameterVersion& v) {
  if (!v.key_id.empty()) j["KeyId"] = v.key_id;
  if (!v.description.empty()) j["Description"] = v.description;
  if (!v.allowed_pattern.empty()) j["AllowedPattern"] = v.allowed_pattern;
}

}  // namespace

Json ParameterToAws(const Parameter& p, const ParameterVersion& v, const std::string& value,
                    const std::string& account, const std::string& selector) {
  Json j = {{"Name", p.name},
            {"Type", v.type},
            {"Value", value},
            {"Version", v.version},
            {"LastModifiedDate", v.last_modified},
            {"ARN", ParameterArn(p.region, account, p.name)},
            {"DataType", v.data_type}};
  if (!selector.empty()) j["Selector"] = selector;
  return j;
}

Json MetadataToAws(const Parameter& p, const std::string& account) {
  const ParameterVersion& v = p.current();
  Json j = {{"Name", p.name},
            {"ARN", ParameterArn(p.region, account, p.name)},
            {"Type", v.type},
            {"LastModifiedDate", v.last_modified},
            {"LastModifiedUser", v.last_modified_user},
            {"Version", v.version},
            {"Tier", v.tier},
            {"Policies", Json::array()},
            {"DataType", v.data_type}};
  AddOptional(j, v);
  return j;
}

Json HistoryToAws(const Parameter& p, const ParameterVersion& v, const std::string& value) {
  Json j = {{"Name", p.name},
            {"Type", v.type},
            {"LastModifiedDate", v.last_modified},
            {"LastModifiedUser", v.last_modified_user},
            {"Value", value},
            {"Version", v.version},
            {"Labels", v.labels},
            {"Tier", v.tier},
            {"Policies", Json::array()},
            {"DataType", v.data_type}};
  AddOptional(j, v);
  return j;
}

Json TagsToAws(const std::vector<Tag>& tags) {
  Json out = Json::array();
  for (const auto& t : tags) out.push_back({{"Key", t.key}, {"Value", t.value}});
  return out;
}

NameSelector ParseSelector(const std::string& text) {
  NameSelector s;
  std::string rest = text;
  if (text.starts_with("arn:")) {
    size_t at = text.find(":parameter/");
    if (at != std::string::npos) rest = text.substr(at + 10);  // keeps the leading '/'
  }
  size_t colon = rest.rfind(':');
  s.name = rest;
  if (colon == std::string::npos) return s;
  s.name = rest.substr(0, colon);
  std::string sel = rest.substr(colon + 1);
  s.selector = ":" + sel;
  bool digits = !sel.empty() && sel.size() <= 18 &&
                std::all_of(sel.begin(), sel.end(), [](unsigned char c) { return std::isdigit(c); });
  if (digits) {
    s.version = std::stoll(sel);
  } else {
    s.label = sel;
  }
  return s;
}

}  // namespace kecs::api::ssm
