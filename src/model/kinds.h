#pragma once
// Object kinds in the store, shared by the API handlers that write them and the
// controllers that move them on.
namespace kecs::model {

inline constexpr const char* kCluster = "ecs:cluster";
inline constexpr const char* kTaskDef = "ecs:taskdef";
inline constexpr const char* kTask = "ecs:task";
inline constexpr const char* kInstance = "ecs:container-instance";
inline constexpr const char* kCapacityProvider = "ecs:capacity-provider";
inline constexpr const char* kAccountSetting = "ecs:account-setting";
inline constexpr const char* kService = "ecs:service";
inline constexpr const char* kServiceDeployment = "ecs:service-deployment";
inline constexpr const char* kServiceRevision = "ecs:service-revision";

}  // namespace kecs::model
