#include "api/secretsmanager/secret.h"

#include <openssl/rand.h>

#include <algorithm>

#include <fmt/format.h>

#include "state/records/reader.h"

namespace kecs::api::secretsmanager {

bool SecretVersion::Has(std::string_view stage) const {
  return std::find(stages.begin(), stages.end(), stage) != stages.end();
}

SecretVersion* Secret::Find(std::string_view version_id) {
  for (auto& v : versions) {
    if (v.id == version_id) return &v;
  }
  return nullptr;
}

const SecretVersion* Secret::Find(std::string_view version_id) const {
  return const_cast<Secret*>(this)->Find(version_id);
}

const SecretVersion* Secret::WithStage(std::string_view stage) const {
  return const_cast<Secret*>(this)->WithStage(stage);
}

SecretVersion* Secret::WithStage(std::string_view stage) {
  for (auto& v : versions) {
    if (v.Has(stage)) return &v;
  }
  return nullptr;
}

std::string NewSecretArn(const std::string& region, const std::string& account, const std::string& name) {
  static constexpr char kAlnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string suffix;
  while (suffix.size() < 6) {
    unsigned char b = 0;
    if (RAND_bytes(&b, 1) != 1) continue;
    if (b >= 248) continue;  // 248 = 4 * 62: rejection keeps the draw unbiased
    suffix.push_back(kAlnum[b % 62]);
  }
  return fmt::format("arn:aws:secretsmanager:{}:{}:secret:{}-{}", region, account, name, suffix);
}

std::string SealContext(const std::string& arn, const std::string& version_id) {
  return arn + "\n" + version_id;
}

SecretIdParts ParseSecretId(std::string_view id) {
  SecretIdParts p;
  if (!id.starts_with("arn:")) {
    p.name = std::string(id);
    return p;
  }
  // arn:<partition>:secretsmanager:<region>:<account>:secret:<name>
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (int i = 0; i < 6; ++i) {
    size_t colon = id.find(':', start);
    if (colon == std::string_view::npos) {
      p.name = std::string(id);  // not an ARN of ours: matches no name
      p.arn = true;
      return p;
    }
    parts.push_back(id.substr(start, colon - start));
    start = colon + 1;
  }
  p.arn = true;
  p.region = std::string(parts[3]);
  p.account = std::string(parts[4]);
  if (parts[2] != "secretsmanager" || parts[5] != "secret") {
    p.name = std::string(id);
    p.region = "\x01";  // matches no secret
    return p;
  }
  p.name = std::string(id.substr(start));
  return p;
}

bool Names(const Secret& s, const SecretIdParts& id, std::string_view account) {
  if (!id.arn) return s.name == id.name;
  if (id.region != s.region || id.account != account) return false;
  std::string_view full = s.arn;
  std::string_view tail = full.substr(full.rfind(":secret:") + 8);
  return tail == id.name || s.name == id.name;
}

state::Object EncodeSecret(const Secret& s) {
  state::Object o;
  o.kind = kSecretKind;
  o.region = s.region;
  o.id = s.name;
  o.name = s.name;
  o.status = s.scheduled() ? "DELETING" : "ACTIVE";
  o.seq = s.seq;
  o.doc = DescribeToAws(s);
  Json versions = Json::array();
  for (const auto& v : s.versions) {
    versions.push_back({{"id", v.id}, {"sealed", v.sealed}, {"binary", v.binary}, {"stages", v.stages},
                        {"created", v.created}});
  }
  Json tags = Json::array();
  for (const auto& t : s.tags) tags.push_back({{"key", t.key}, {"value", t.value}});
  o.internal = {{"arn", s.arn},
                {"description", s.description},
                {"kmsKeyId", s.kms_key_id},
                {"created", s.created},
                {"lastChanged", s.last_changed},
                {"deletedAt", s.deleted_at},
                {"deletionDate", s.deletion_date},
                {"versions", versions},
                {"tags", tags}};
  return o;
}

Result<Secret> DecodeSecret(const state::Object& row) {
  Secret s;
  s.region = row.region;
  s.name = row.id;
  s.seq = row.seq;
  std::string where = "Secrets Manager secret " + row.id;
  state::records::Reader r(row.internal, where);
  s.arn = r.Str("arn");
  s.description = r.Str("description", false);
  s.kms_key_id = r.Str("kmsKeyId", false);
  s.created = r.Num("created");
  s.last_changed = r.Num("lastChanged");
  s.deleted_at = r.Num("deletedAt");
  s.deletion_date = r.Num("deletionDate");
  Json versions = r.Raw("versions", Json::value_t::array, Json::array());
  Json tags = r.Raw("tags", Json::value_t::array, Json::array());
  if (!r.error().empty()) return Internal(r.error());
  for (const auto& j : versions) {
    state::records::Reader vr(j, where);
    SecretVersion v;
    v.id = vr.Str("id");
    v.sealed = vr.Str("sealed");
    v.binary = vr.Bool("binary");
    v.created = vr.Num("created");
    Json stages = vr.Raw("stages", Json::value_t::array, Json::array());
    if (!vr.error().empty()) return Internal(vr.error());
    for (const auto& st : stages) {
      if (!st.is_string()) return Internal(where + ": a version stage is not a string");
      v.stages.push_back(st.get<std::string>());
    }
    s.versions.push_back(std::move(v));
  }
  for (const auto& j : tags) {
    state::records::Reader tr(j, where);
    Tag t{tr.Str("key"), tr.Str("value", false)};
    if (!tr.error().empty()) return Internal(tr.error());
    s.tags.push_back(std::move(t));
  }
  return s;
}

Json TagsToAws(const std::vector<Tag>& tags) {
  Json out = Json::array();
  for (const auto& t : tags) out.push_back({{"Key", t.key}, {"Value", t.value}});
  return out;
}

Json VersionsToStages(const Secret& s) {
  Json out = Json::object();
  for (const auto& v : s.versions) {
    if (!v.stages.empty()) out[v.id] = v.stages;
  }
  return out;
}

namespace {

// The members DescribeSecret and ListSecrets share.
Json Common(const Secret& s) {
  Json j = {{"ARN", s.arn},
            {"Name", s.name},
            {"LastChangedDate", s.last_changed},
            {"CreatedDate", s.created},
            {"PrimaryRegion", s.region}};
  if (!s.description.empty()) j["Description"] = s.description;
  if (!s.kms_key_id.empty()) j["KmsKeyId"] = s.kms_key_id;
  if (s.scheduled()) j["DeletedDate"] = s.deleted_at;
  if (!s.tags.empty()) j["Tags"] = TagsToAws(s.tags);
  return j;
}

}  // namespace

Json DescribeToAws(const Secret& s) {
  Json j = Common(s);
  j["VersionIdsToStages"] = VersionsToStages(s);
  return j;
}

Json ListEntryToAws(const Secret& s) {
  Json j = Common(s);
  j["SecretVersionsToStages"] = VersionsToStages(s);
  return j;
}

}  // namespace kecs::api::secretsmanager
