#pragma once
// Identifiers in AWS's formats, from a process-wide CSPRNG (OpenSSL RAND_bytes).
// All functions are thread-safe.
#include <cstdint>
#include <string>
#include <string_view>

namespace kecs {

// `n` lowercase hex digits, e.g. RandomHex(17) for the suffix of "eni-0a1b...".
std::string RandomHex(size_t n);
// An EC2-style id: "<prefix>-" + 17 hex digits (vpc-, subnet-, sg-, eni-, ...).
std::string Ec2Id(std::string_view prefix);
// An RFC 4122 version 4 UUID, lowercase with dashes.
std::string Uuid4();
// A random locally administered unicast MAC, "02:xx:xx:xx:xx:xx".
std::string RandomMac();
// A 32-hex-digit ECS task id.
std::string TaskIdString();
uint64_t RandomU64();

}  // namespace kecs
