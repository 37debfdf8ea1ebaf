#include "api/ecs/ecs_api.h"

namespace kecs::api::ecs {

void EcsApi::RegisterAll(Service& s) {
#define KECS_OP(name) \
  s.Register(#name, [this](RequestContext& ctx, const Json& in) { return name(ctx, in); })
  KECS_OP(CreateCluster);
  KECS_OP(DescribeClusters);
  KECS_OP(ListClusters);
  KECS_OP(UpdateCluster);
  KECS_OP(UpdateClusterSettings);
  KECS_OP(PutClusterCapacityProviders);
  KECS_OP(DeleteCluster);
  KECS_OP(RegisterTaskDefinition);
  KECS_OP(DescribeTaskDefinition);
  KECS_OP(ListTaskDefinitions);
  KECS_OP(ListTaskDefinitionFamilies);
  KECS_OP(DeregisterTaskDefinition);
  KECS_OP(DeleteTaskDefinitions);
  KECS_OP(RunTask);
  KECS_OP(StartTask);
  KECS_OP(StopTask);
  KECS_OP(DescribeTasks);
  KECS_OP(ListTasks);
  KECS_OP(RegisterContainerInstance);
  KECS_OP(DeregisterContainerInstance);
  KECS_OP(DescribeContainerInstances);
  KECS_OP(ListContainerInstances);
  KECS_OP(UpdateContainerInstancesState);
  KECS_OP(PutAttributes);
  KECS_OP(DeleteAttributes);
  KECS_OP(ListAttributes);
  KECS_OP(PutAccountSetting);
  KECS_OP(PutAccountSettingDefault);
  KECS_OP(DeleteAccountSetting);
  KECS_OP(ListAccountSettings);
  KECS_OP(TagResource);
  KECS_OP(UntagResource);
  KECS_OP(ListTagsForResource);
  KECS_OP(CreateCapacityProvider);
  KECS_OP(DescribeCapacityProviders);
  KECS_OP(UpdateCapacityProvider);
  KECS_OP(DeleteCapacityProvider);
  KECS_OP(CreateService);
  KECS_OP(DescribeServices);
  KECS_OP(ListServices);
  KECS_OP(ListServicesByNamespace);
  KECS_OP(UpdateService);
  KECS_OP(DeleteService);
  KECS_OP(DiscoverPollEndpoint);
  KECS_OP(SubmitTaskStateChange);
  KECS_OP(SubmitContainerStateChange);
  KECS_OP(SubmitAttachmentStateChanges);
  KECS_OP(UpdateContainerAgent);
  KECS_OP(ListServiceDeployments);
  KECS_OP(DescribeServiceDeployments);
  KECS_OP(DescribeServiceRevisions);
  KECS_OP(StopServiceDeployment);
  KECS_OP(GetTaskProtection);
  KECS_OP(UpdateTaskProtection);
#undef KECS_OP
}

}  // namespace kecs::api::ecs
