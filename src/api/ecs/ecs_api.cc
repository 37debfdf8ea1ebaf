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
  KECS_OP(CreateTaskSet);
  KECS_OP(DescribeTaskSets);
  KECS_OP(UpdateTaskSet);
  KECS_OP(DeleteTaskSet);
  KECS_OP(UpdateServicePrimaryTaskSet);
  KECS_OP(ExecuteCommand);
  KECS_OP(CreateExpressGatewayService);
  KECS_OP(DescribeExpressGatewayService);
  KECS_OP(UpdateExpressGatewayService);
  KECS_OP(DeleteExpressGatewayService);
  KECS_OP(RegisterDaemonTaskDefinition);
  KECS_OP(DescribeDaemonTaskDefinition);
  KECS_OP(DeleteDaemonTaskDefinition);
  KECS_OP(ListDaemonTaskDefinitions);
  KECS_OP(CreateDaemon);
  KECS_OP(UpdateDaemon);
  KECS_OP(DeleteDaemon);
  KECS_OP(DescribeDaemon);
  KECS_OP(ListDaemons);
  KECS_OP(DescribeDaemonDeployments);
  KECS_OP(ListDaemonDeployments);
  KECS_OP(DescribeDaemonRevisions);
  KECS_OP(ContinueServiceDeployment);
#undef KECS_OP
}

}  // namespace kecs::api::ecs
