#pragma once
// EC2 launch templates as stored by launch_templates.cc, for RunInstances and for tests.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/json.h"
#include "base/status.h"
#include "state/store.h"

namespace kecs::api::ec2 {

inline constexpr const char* kLaunchTemplate = "ec2:launch-template";
inline constexpr const char* kLaunchTemplateVersion = "ec2:launch-template-version";

// The LaunchTemplateData (ResponseLaunchTemplateData shape) of version `version` ("" or
// "$Default": the default version, "$Latest", or a number) of the template `id_or_name`
// (an lt- id, or a name). NotFound with EC2's message when the template or version does not
// exist; InvalidArgument for a version that is no version.
Result<Json> LaunchTemplateData(state::Tx& tx, const std::string& region,
                                const std::string& id_or_name, const std::string& version);

namespace lt {

// "$Latest", "$Default" or a positive decimal number resolved against a template's
// default and latest versions; nullopt for anything else.
std::optional<int64_t> ResolveVersion(std::string_view spec, int64_t default_version, int64_t latest_version);

// A new version's data from SourceVersion's and the request's: the source's launch
// parameters, each top-level one the request gives replacing the source's (as AWS
// documents CreateLaunchTemplateVersion's SourceVersion).
Json MergeData(const Json& source, const Json& given);

// 3 to 128 characters of [a-zA-Z0-9().\-/_].
bool ValidName(std::string_view name);

}  // namespace lt
}  // namespace kecs::api::ec2
