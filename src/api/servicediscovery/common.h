#pragma once
// Helpers shared by the Cloud Map (servicediscovery) operation files.
#include <string>
#include <vector>

#include "api/errors.h"
#include "api/router.h"
#include "base/json.h"
#include "net/domain/discovery.h"
#include "state/store.h"

namespace kecs::api::servicediscovery {

namespace sd = net::discovery;

// Cloud Map's client errors, to throw.
AwsError InvalidInput(std::string message);
AwsError NamespaceNotFound();
AwsError ServiceNotFound();
AwsError InstanceNotFound();
AwsError OperationNotFound();

// Unwraps a Status from the store; a failure is a 500 (InternalFailure).
void Check(const Status& st);
template <typename T>
T Check(Result<T> r) {
  Check(r.status());
  return std::move(r).value();
}

// The document without its internal ("kecs:"-prefixed) members.
Json Public(const Json& doc);

// The namespace/service a request names by id or ARN, or NamespaceNotFound/ServiceNotFound.
state::Object RequireNamespace(state::Tx& tx, const RequestContext& ctx, const std::string& id_or_arn);
state::Object RequireService(state::Tx& tx, const RequestContext& ctx, const std::string& id_or_arn);

// Refuses `value` unless it matches the model's `pattern` (which the front end does not
// check), in the front end's "1 validation error detected: ..." wording.
void CheckPattern(const std::string& value, const std::string& path, const std::string& pattern);
inline constexpr const char* kServiceNamePattern =
    R"(((?=^.{1,127}$)^([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9])(\.([a-zA-Z0-9_][a-zA-Z0-9-_]{0,61}[a-zA-Z0-9_]|[a-zA-Z0-9]))*$)|(^\.$))";
inline constexpr const char* kInstanceIdPattern = R"(^[0-9a-zA-Z_/:.@-]+$)";
inline constexpr const char* kAttrKeyPattern = R"(^[a-zA-Z0-9!-~]+$)";
inline constexpr const char* kAttrValuePattern =
    R"(^([a-zA-Z0-9!-~][ \ta-zA-Z0-9!-~]*){0,1}[a-zA-Z0-9!-~]{0,1}$)";

// Tags as Cloud Map keeps them: [{"Key","Value"}]. Refuses reserved keys; TooManyTags past 50.
void ValidateTags(const Json& tags);
Json MergeTags(const Json& tags, const Json& add);
Json RemoveTags(const Json& tags, const Json& keys);

// Applies MaxResults (default 100) and NextToken to items in store order (`keys` are
// SeqKey()s, ascending) and writes the list member and NextToken into `out`.
void PageInto(Json& out, const char* list_member, const std::vector<std::string>& keys,
              std::vector<Json> items, const Json& in);

// One filter of ListNamespaces/ListServices/ListOperations: its name, condition (EQ when
// absent) and values, checked against the conditions the filter name supports.
struct Filter {
  std::string name;
  std::string condition;
  std::vector<std::string> values;
};
// `allowed`: "NAME:COND,COND" entries, e.g. {"TYPE:EQ,BEGINS_WITH", "STATUS:EQ,IN"}.
std::vector<Filter> ParseFilters(const Json& in, const std::vector<std::string>& allowed);
// EQ, IN and BEGINS_WITH against one value of the resource.
bool Matches(const Filter& f, const std::string& value);

}  // namespace kecs::api::servicediscovery
