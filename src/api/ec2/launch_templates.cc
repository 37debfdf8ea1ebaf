// EC2 launch templates: CreateLaunchTemplate, CreateLaunchTemplateVersion,
// DescribeLaunchTemplates, DescribeLaunchTemplateVersions, ModifyLaunchTemplate,
// DeleteLaunchTemplate.
//
// A template is one object (kLaunchTemplate, its name in the row's name column) and each
// version another (kLaunchTemplateVersion, id "<lt-id>/<number>", the template its parent).
// LaunchTemplateData is stored as the request gave it: the model's RequestLaunchTemplateData
// and ResponseLaunchTemplateData have the same members, of the same types, at every depth
// (only their XML location names differ, which the protocol layer handles), so the stored
// request data is already the response shape. A version's DefaultVersion is computed from
// its template's DefaultVersionNumber when shown.
#include "api/ec2/launch_templates.h"

#include <algorithm>
#include <memory>
#include <set>

#include <fmt/format.h>

#include "api/ec2/ec2_api.h"
#include "base/clock.h"
#include "base/ids.h"

namespace kecs::api::ec2 {
namespace lt {

std::optional<int64_t> ResolveVersion(std::string_view spec, int64_t default_version, int64_t latest_version) {
  if (spec == "$Latest") return latest_version;
  if (spec == "$Default") return default_version;
  if (spec.empty() || spec.size() > 18) return std::nullopt;
  int64_t n = 0;
  for (char c : spec) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n < 1) return std::nullopt;
  return n;
}

Json MergeData(const Json& source, const Json& given) {
  Json out = source.is_object() ? source : Json::object();
  if (given.is_object()) {
    for (auto it = given.begin(); it != given.end(); ++it) out[it.key()] = it.value();
  }
  return out;
}

bool ValidName(std::string_view name) {
  if (name.size() < 3 || name.size() > 128) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '(' || c == ')' || c == '.' || c == '-' || c == '/' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace lt

namespace {

// AWS's words, as quoted in github-aws-runners/terraform-aws-github-runner#932.
AwsError Malformed() {
  return Ec2Error("InvalidLaunchTemplateName.MalformedException",
                  "A launch template name must be between 3 and 128 characters, and may contain letters, "
                  "numbers, and the following characters: - ( ) . / _.");
}
// As quoted in hashicorp/packer#7817 and getmoto/moto#5726.
AwsError NameTaken() {
  return Ec2Error("InvalidLaunchTemplateName.AlreadyExistsException", "Launch template name already in use.");
}
// As the AWS CLI reported it in getmoto/moto#5477 (DescribeLaunchTemplateVersions by name).
AwsError NameNotFound(const std::string& name) {
  return Ec2Error("InvalidLaunchTemplateName.NotFoundException",
                  fmt::format("The specified launch template, with template name {}, does not exist.", name));
}
// The same sentence with the id (no quote found for the id form; kecs follows the name's).
AwsError IdNotFound(const std::string& id) {
  return Ec2Error("InvalidLaunchTemplateId.NotFound",
                  fmt::format("The specified launch template, with template ID {}, does not exist.", id));
}
// As quoted in eksctl-io/eksctl#7786.
AwsError VersionNotFound(const std::string& version, const std::string& id) {
  return Ec2Error("InvalidLaunchTemplateId.VersionNotFound",
                  fmt::format("Could not find the specified version {} for the launch template with ID {}.",
                              version, id));
}

std::string VersionKey(const std::string& template_id, int64_t n) { return fmt::format("{}/{}", template_id, n); }

std::optional<state::Object> FindByName(state::Tx& tx, const std::string& region, const std::string& name) {
  state::Query q{kLaunchTemplate, region};
  q.name = name;
  auto found = Check(tx.List(q));
  if (found.empty()) return std::nullopt;
  return found.front();
}

std::optional<state::Object> FindById(state::Tx& tx, const std::string& region, const std::string& id) {
  if (!IsWellFormedId(id, "lt")) return std::nullopt;
  return Check(tx.Get(kLaunchTemplate, region, id));
}

// The template a request names by LaunchTemplateId or LaunchTemplateName.
state::Object RequireTemplate(state::Tx& tx, const std::string& region, const Json& in) {
  if (auto id = JOptStr(in, "LaunchTemplateId")) {
    CheckId(*id, "lt", "InvalidLaunchTemplateId.Malformed");
    auto o = FindById(tx, region, *id);
    if (!o) throw IdNotFound(*id);
    return *o;
  }
  if (auto name = JOptStr(in, "LaunchTemplateName")) {
    auto o = FindByName(tx, region, *name);
    if (!o) throw NameNotFound(*name);
    return *o;
  }
  // kecs's wording: AWS requires one of the two.
  throw Ec2Error("MissingParameter", "The request must contain the parameter LaunchTemplateName or LaunchTemplateId");
}

int64_t DefaultOf(const state::Object& t) { return t.doc.value("DefaultVersionNumber", int64_t{1}); }
int64_t LatestOf(const state::Object& t) { return t.doc.value("LatestVersionNumber", int64_t{1}); }

state::Object RequireVersion(state::Tx& tx, const state::Object& t, const std::string& spec) {
  auto n = lt::ResolveVersion(spec, DefaultOf(t), LatestOf(t));
  if (!n) throw VersionNotFound(spec, t.id);
  auto v = Check(tx.Get(kLaunchTemplateVersion, t.region, VersionKey(t.id, *n)));
  if (!v) throw VersionNotFound(spec, t.id);
  return *v;
}

Json VersionView(const state::Object& v, const state::Object& t) {
  Json view = WithoutInternalMembers(v.doc);
  view["DefaultVersion"] = view.value("VersionNumber", int64_t{0}) == DefaultOf(t);
  return view;
}

Json TemplateView(const state::Object& t) { return WithoutInternalMembers(t.doc); }

std::vector<state::Object> VersionsOf(state::Tx& tx, const state::Object& t) {
  state::Query q{kLaunchTemplateVersion, t.region};
  q.parent = t.id;
  return Check(tx.List(q));
}

FilterField DataField(const std::string& member) {
  return [member](const Json& view) -> std::vector<std::string> {
    const Json* data = JGet(view, "LaunchTemplateData");
    if (!data) return {};
    const Json* v = JGet(*data, member);
    if (!v) return {};
    if (v->is_string()) return {v->get<std::string>()};
    if (v->is_boolean()) return {v->get<bool>() ? "true" : "false"};
    return {};
  };
}

FilterField DataNested(const std::string& object, const std::string& member) {
  return [object, member](const Json& view) -> std::vector<std::string> {
    const Json* data = JGet(view, "LaunchTemplateData");
    const Json* o = data ? JGet(*data, object) : nullptr;
    const Json* v = o ? JGet(*o, member) : nullptr;
    if (!v || !v->is_string()) return {};
    return {v->get<std::string>()};
  };
}

// create-time compares with the ISO 8601 time the responses show (2026-12-06T05:00:00.000Z),
// not the stored epoch seconds; wildcards apply as for every filter.
std::vector<std::string> CreateTimeIso(const Json& view) {
  const Json* t = JGet(view, "CreateTime");
  if (!t || !t->is_number()) return {};
  return {Iso8601(t->get<double>())};  // stored as epoch seconds
}

const FilterSpec& TemplateFilters() {
  static const FilterSpec kSpec = {
      {"create-time", CreateTimeIso},
      {"launch-template-name", Field("LaunchTemplateName")},
  };
  return kSpec;
}

// DescribeLaunchTemplateVersions' filters (EC2 API reference) that kecs's stored data can
// answer.
const FilterSpec& VersionFilters() {
  static const FilterSpec kSpec = {
      {"create-time", CreateTimeIso},
      {"ebs-optimized", DataField("EbsOptimized")},
      {"http-endpoint", DataNested("MetadataOptions", "HttpEndpoint")},
      {"http-protocol-ipv4", DataNested("MetadataOptions", "HttpProtocolIpv4")},
      {"http-tokens", DataNested("MetadataOptions", "HttpTokens")},
      {"iam-instance-profile", [](const Json& view) -> std::vector<std::string> {
         std::vector<std::string> out;
         for (const char* m : {"Arn", "Name"}) {
           auto v = DataNested("IamInstanceProfile", m)(view);
           out.insert(out.end(), v.begin(), v.end());
         }
         return out;
       }},
      {"image-id", DataField("ImageId")},
      {"instance-type", DataField("InstanceType")},
      {"is-default-version", Field("DefaultVersion")},
      {"kernel-id", DataField("KernelId")},
      {"ram-disk-id", DataField("RamDiskId")},
  };
  return kSpec;
}

class LaunchTemplateOps {
 public:
  explicit LaunchTemplateOps(state::Store& store) : store_(store) {}

  Json CreateLaunchTemplate(RequestContext& ctx, const Json& in) {
    std::string name = JStr(in, "LaunchTemplateName");
    if (!lt::ValidName(name)) throw Malformed();
    Json tags = TagsFor(in, "launch-template");
    std::string id = Ec2Id("lt");
    std::string created_by = fmt::format("arn:aws:iam::{}:root", ctx.account_id);
    double now = EpochMillis(ctx.now);
    Json doc = {{"LaunchTemplateId", id}, {"LaunchTemplateName", name}, {"CreateTime", now},
                {"CreatedBy", created_by}, {"DefaultVersionNumber", 1}, {"LatestVersionNumber", 1},
                {"Tags", tags}};
    Json version = NewVersion(id, name, 1, created_by, now, in, in.value("LaunchTemplateData", Json::object()));
    Check(store_.Write([&](state::Tx& tx) {
      if (FindByName(tx, ctx.region, name)) throw NameTaken();
      Check(tx.Insert({kLaunchTemplate, ctx.region, id, "", name, "", 0, doc}));
      Check(tx.Insert({kLaunchTemplateVersion, ctx.region, VersionKey(id, 1), id, "", "", 0, version}));
      return Status::Ok();
    }));
    return {{"LaunchTemplate", WithoutInternalMembers(doc)}};
  }

  Json CreateLaunchTemplateVersion(RequestContext& ctx, const Json& in) {
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object t = RequireTemplate(tx, ctx.region, in);
      Json data = in.value("LaunchTemplateData", Json::object());
      if (auto source = JOptStr(in, "SourceVersion")) {
        state::Object src = RequireVersion(tx, t, *source);
        data = lt::MergeData(src.doc.value("LaunchTemplateData", Json::object()), data);
      }
      int64_t n = LatestOf(t) + 1;
      Json version = NewVersion(t.id, t.name, n, fmt::format("arn:aws:iam::{}:root", ctx.account_id),
                                EpochMillis(ctx.now), in, data);
      state::Object v{kLaunchTemplateVersion, ctx.region, VersionKey(t.id, n), t.id, "", "", 0, version};
      Check(tx.Insert(v));
      t.doc["LatestVersionNumber"] = n;
      Check(tx.Put(t));
      out = {{"LaunchTemplateVersion", VersionView(v, t)}};
      return Status::Ok();
    }));
    return out;
  }

  Json DescribeLaunchTemplates(RequestContext& ctx, const Json& in) {
    const Json filters = in.value("Filters", Json::array());
    CheckFilters(filters, TemplateFilters());
    std::vector<Json> views;
    Check(store_.Read([&](state::Tx& tx) {
      const Json ids = in.value("LaunchTemplateIds", Json::array());
      const Json names = in.value("LaunchTemplateNames", Json::array());
      std::vector<state::Object> objects;
      if (ids.empty() && names.empty()) objects = Check(tx.List({kLaunchTemplate, ctx.region}));
      // "At least one of the launch templates specified in the request does not exist."
      // is EC2's answer to a missing template named in DescribeLaunchTemplates (no quote
      // found in the issues corpus; the widely reported form).
      for (const auto& i : ids) {
        std::string id = i.get<std::string>();
        CheckId(id, "lt", "InvalidLaunchTemplateId.Malformed");
        auto o = FindById(tx, ctx.region, id);
        if (!o) {
          throw Ec2Error("InvalidLaunchTemplateId.NotFound",
                         "At least one of the launch templates specified in the request does not exist.");
        }
        objects.push_back(*o);
      }
      for (const auto& n : names) {
        auto o = FindByName(tx, ctx.region, n.get<std::string>());
        if (!o) {
          throw Ec2Error("InvalidLaunchTemplateName.NotFoundException",
                         "At least one of the launch templates specified in the request does not exist.");
        }
        objects.push_back(*o);
      }
      std::set<std::string> seen;
      for (const auto& o : objects) {
        if (!seen.insert(o.id).second) continue;
        Json view = TemplateView(o);
        if (MatchFilters(filters, view, TemplateFilters())) views.push_back(std::move(view));
      }
      return Status::Ok();
    }));
    Json out = Json::object();
    PageInto(out, "LaunchTemplates", std::move(views), in);
    return out;
  }

  Json DescribeLaunchTemplateVersions(RequestContext& ctx, const Json& in) {
    const Json filters = in.value("Filters", Json::array());
    CheckFilters(filters, VersionFilters());
    const Json versions = in.value("Versions", Json::array());
    struct Found {
      size_t template_index;
      int64_t version;
      Json view;
    };
    std::vector<Found> found;
    Check(store_.Read([&](state::Tx& tx) {
      std::vector<state::Object> templates;
      if (JGet(in, "LaunchTemplateId") || JGet(in, "LaunchTemplateName")) {
        templates.push_back(RequireTemplate(tx, ctx.region, in));
      } else {
        // Without a template, only $Latest and $Default may be asked for: they are then
        // read from every template (EC2 API reference, DescribeLaunchTemplateVersions).
        bool aliases_only = !versions.empty();
        for (const auto& v : versions) {
          std::string s = v.get<std::string>();
          aliases_only = aliases_only && (s == "$Latest" || s == "$Default");
        }
        if (!aliases_only) RequireTemplate(tx, ctx.region, in);  // throws MissingParameter
        templates = Check(tx.List({kLaunchTemplate, ctx.region}));
      }
      for (size_t ti = 0; ti < templates.size(); ++ti) {
        const state::Object& t = templates[ti];
        std::vector<state::Object> chosen;
        if (!versions.empty()) {
          std::set<std::string> seen;
          for (const auto& v : versions) {
            state::Object o = RequireVersion(tx, t, v.get<std::string>());
            if (seen.insert(o.id).second) chosen.push_back(o);
          }
        } else {
          int64_t lo = 1, hi = INT64_MAX;
          if (auto s = JOptStr(in, "MinVersion")) {
            auto n = lt::ResolveVersion(*s, DefaultOf(t), LatestOf(t));
            if (!n) throw VersionNotFound(*s, t.id);
            lo = *n;
          }
          if (auto s = JOptStr(in, "MaxVersion")) {
            auto n = lt::ResolveVersion(*s, DefaultOf(t), LatestOf(t));
            if (!n) throw VersionNotFound(*s, t.id);
            hi = *n;
          }
          for (auto& o : VersionsOf(tx, t)) {
            int64_t n = o.doc.value("VersionNumber", int64_t{0});
            if (n >= lo && n <= hi) chosen.push_back(o);
          }
        }
        for (const auto& o : chosen) {
          Json view = VersionView(o, t);
          if (MatchFilters(filters, view, VersionFilters())) {
            found.push_back({ti, o.doc.value("VersionNumber", int64_t{0}), std::move(view)});
          }
        }
      }
      return Status::Ok();
    }));
    // Newest version first within a template, as EC2 lists them.
    std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
      if (a.template_index != b.template_index) return a.template_index < b.template_index;
      return a.version > b.version;
    });
    std::vector<Json> views;
    for (auto& f : found) views.push_back(std::move(f.view));
    Json out = Json::object();
    PageInto(out, "LaunchTemplateVersions", std::move(views), in);
    return out;
  }

  Json ModifyLaunchTemplate(RequestContext& ctx, const Json& in) {
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object t = RequireTemplate(tx, ctx.region, in);
      if (auto spec = JOptStr(in, "DefaultVersion")) {
        state::Object v = RequireVersion(tx, t, *spec);
        t.doc["DefaultVersionNumber"] = v.doc.value("VersionNumber", int64_t{1});
        Check(tx.Put(t));
      }
      out = {{"LaunchTemplate", TemplateView(t)}};
      return Status::Ok();
    }));
    return out;
  }

  Json DeleteLaunchTemplate(RequestContext& ctx, const Json& in) {
    Json out;
    Check(store_.Write([&](state::Tx& tx) {
      state::Object t = RequireTemplate(tx, ctx.region, in);
      for (const auto& v : VersionsOf(tx, t)) Check(tx.Delete(kLaunchTemplateVersion, ctx.region, v.id));
      Check(tx.Delete(kLaunchTemplate, ctx.region, t.id));
      out = {{"LaunchTemplate", TemplateView(t)}};
      return Status::Ok();
    }));
    return out;
  }

 private:
  static Json NewVersion(const std::string& id, const std::string& name, int64_t n,
                         const std::string& created_by, double now, const Json& in, const Json& data) {
    CheckDataSize(data);
    Json v = {{"LaunchTemplateId", id}, {"LaunchTemplateName", name}, {"VersionNumber", n},
              {"CreateTime", now}, {"CreatedBy", created_by}, {"LaunchTemplateData", data}};
    if (auto d = JOptStr(in, "VersionDescription")) v["VersionDescription"] = *d;
    return v;
  }

  // Every version keeps its whole data, so its size is bounded: UserData as EC2 bounds it
  // (16 KB before base64; the wording is RunInstances', none found for launch templates),
  // and the rest at 64 KiB (kecs's bound and wording: real templates are a few KiB).
  static void CheckDataSize(const Json& data) {
    if (const Json* u = JGet(data, "UserData"); u && u->is_string()) {
      // The decoded size of the base64 text: 3 bytes per 4 characters, less the padding.
      const std::string& b64 = u->get_ref<const std::string&>();
      size_t pad = b64.ends_with("==") ? 2 : b64.ends_with("=") ? 1 : 0;
      size_t decoded = b64.size() / 4 * 3 - std::min(pad, b64.size() / 4 * 3);
      if (decoded > 16384) throw InvalidParameterValue("User data is limited to 16384 bytes");
    }
    if (data.dump().size() > 64 * 1024) {
      throw InvalidParameterValue("LaunchTemplateData is limited to 65536 bytes of JSON in kecs");
    }
  }

  state::Store& store_;
};

}  // namespace

Result<Json> LaunchTemplateData(state::Tx& tx, const std::string& region,
                                const std::string& id_or_name, const std::string& version) {
  try {
    // "lt-web" is a valid name: only a well-formed id is looked up as one.
    Json in = IsWellFormedId(id_or_name, "lt") ? Json{{"LaunchTemplateId", id_or_name}}
                                               : Json{{"LaunchTemplateName", id_or_name}};
    state::Object t = RequireTemplate(tx, region, in);
    state::Object v = RequireVersion(tx, t, version.empty() ? "$Default" : version);
    return v.doc.value("LaunchTemplateData", Json::object());
  } catch (const AwsError& e) {
    if (e.code().ends_with("Malformed") || e.code() == "MissingParameter") return InvalidArgument(e.message());
    return NotFound(e.message());
  }
}

void RegisterLaunchTemplateOps(Service& s, state::Store& store, net::RegionBootstrap&) {
  auto ops = std::make_shared<LaunchTemplateOps>(store);
#define KECS_OP(name) \
  s.Register(#name, [ops](RequestContext& ctx, const Json& in) { CheckDryRun(in); return ops->name(ctx, in); })
  KECS_OP(CreateLaunchTemplate);
  KECS_OP(CreateLaunchTemplateVersion);
  KECS_OP(DescribeLaunchTemplates);
  KECS_OP(DescribeLaunchTemplateVersions);
  KECS_OP(ModifyLaunchTemplate);
  KECS_OP(DeleteLaunchTemplate);
#undef KECS_OP
}

}  // namespace kecs::api::ec2
