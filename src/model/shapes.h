#pragma once
// The AWS service models as data.
//
// codegen/gen_model.py turns each botocore service-2.json under third_party/aws-models
// into a constant table of ShapeDesc and OperationDesc (build/gen/<svc>_model.cc). The
// protocol codecs walk these tables to decode requests, validate them (required members,
// enums, types, lengths and ranges) and encode responses, so no request or response shape
// is typed by hand. Everything here is immutable after static initialisation and safe to
// read from any thread.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace kecs::model {

enum class ShapeType : uint8_t {
  kStructure, kList, kMap, kString, kInteger, kLong, kBoolean, kDouble, kFloat, kTimestamp, kBlob,
};

struct MemberDesc {
  std::string_view name;
  int shape;
  std::string_view location_name;  // XML element / EC2 query name (before capitalisation)
  std::string_view query_name;     // EC2 only: overrides location_name for requests
  bool required;
  bool flattened;
  std::string_view location;       // "header", "uri", ... (REST protocols only)
  bool xml_attribute;
};

struct ShapeDesc {
  std::string_view name;
  ShapeType type;
  int enum_offset;
  int enum_count;
  int member_offset;
  int member_count;
  int list_member;                 // shape index of the element, lists only
  std::string_view list_member_location;
  bool flattened;
  int map_key;
  int map_value;
  std::string_view map_key_location;
  std::string_view map_value_location;
  bool has_min;
  long long min;
  bool has_max;
  long long max;
  bool exception;
  bool fault;
  std::string_view error_code;     // Query protocol error code when it differs from the name
  int http_status;
  std::string_view timestamp_format;
  bool document;
  bool union_;
  bool sensitive;                  // the model's `sensitive`: a value no message may show
};

struct OperationDesc {
  std::string_view name;
  int input;   // -1 when the operation takes no input
  int output;  // -1 when it returns nothing
  std::string_view result_wrapper;
  int error_offset;
  int error_count;
};

struct ServiceModel {
  std::string_view service;        // our short name: ecs, ec2, elbv2, servicediscovery, logs
  std::string_view api_version;
  std::string_view protocol;       // json, ec2, query
  std::string_view target_prefix;  // JSON 1.1 X-Amz-Target prefix
  std::string_view xml_namespace;
  std::string_view endpoint_prefix;
  const ShapeDesc* shapes;
  size_t shape_count;
  const MemberDesc* members;
  const std::string_view* enums;
  const int* errors;
  const OperationDesc* operations;
  size_t operation_count;

  const ShapeDesc& shape(int index) const { return shapes[index]; }
  std::span<const MemberDesc> MembersOf(const ShapeDesc& s) const {
    return {members + s.member_offset, static_cast<size_t>(s.member_count)};
  }
  std::span<const std::string_view> EnumOf(const ShapeDesc& s) const {
    return {enums + s.enum_offset, static_cast<size_t>(s.enum_count)};
  }
  // Binary search: the generator sorts operations and shapes by name.
  const OperationDesc* FindOperation(std::string_view name) const;
  int FindShape(std::string_view name) const;
  const MemberDesc* FindMember(const ShapeDesc& s, std::string_view name) const;
};

// The models compiled into this binary.
const ServiceModel& EcsModel();
const ServiceModel& Ec2Model();
const ServiceModel& Elbv2Model();
const ServiceModel& ServiceDiscoveryModel();
const ServiceModel& LogsModel();
const ServiceModel& SsmModel();

}  // namespace kecs::model
