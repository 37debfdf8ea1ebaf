#pragma once
// Region names as AWS partitions define them.
//
// The patterns are each partition's regionRegex in botocore's data/partitions.json (and
// the SDKs' newer partition files): aws ^(us|eu|ap|sa|ca|me|af|il|mx)-\w+-\d+$, aws-cn
// ^cn-\w+-\d+$, aws-us-gov ^us-gov-\w+-\d+$, aws-iso ^us-iso-\w+-\d+$, aws-iso-b
// ^us-isob-\w+-\d+$, aws-iso-e ^eu-isoe-\w+-\d+$, aws-iso-f ^us-isof-\w+-\d+$ and
// aws-eusc ^eusc-de-\w+-\d+$. kecs keeps per-region state (a default VPC per region), so
// it also bounds the length: no region AWS has named is longer than kMaxRegionLength.
// Stateless and thread-safe.
#include <cstddef>
#include <string_view>

namespace kecs::api::protocol {

inline constexpr size_t kMaxRegionLength = 32;

// True when `region` matches one partition's pattern and is at most kMaxRegionLength long.
bool IsValidRegion(std::string_view region);

}  // namespace kecs::api::protocol
