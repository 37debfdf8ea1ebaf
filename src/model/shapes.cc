#include "model/shapes.h"

#include "model/autoscaling_model.h"
#include "model/ecr_model.h"
#include "model/secretsmanager_model.h"
#include "model/sts_model.h"

#include <algorithm>

#include "autoscaling_enums.h"
#include "ec2_enums.h"
#include "ecr_enums.h"
#include "ecs_enums.h"
#include "elbv2_enums.h"
#include "logs_enums.h"
#include "servicediscovery_enums.h"
#include "secretsmanager_enums.h"
#include "ssm_enums.h"
#include "sts_enums.h"

namespace kecs::model {

const OperationDesc* ServiceModel::FindOperation(std::string_view name) const {
  const OperationDesc* end = operations + operation_count;
  const OperationDesc* it = std::lower_bound(
      operations, end, name, [](const OperationDesc& o, std::string_view n) { return o.name < n; });
  return (it != end && it->name == name) ? it : nullptr;
}

int ServiceModel::FindShape(std::string_view name) const {
  const ShapeDesc* end = shapes + shape_count;
  const ShapeDesc* it = std::lower_bound(
      shapes, end, name, [](const ShapeDesc& s, std::string_view n) { return s.name < n; });
  return (it != end && it->name == name) ? static_cast<int>(it - shapes) : -1;
}

const MemberDesc* ServiceModel::FindMember(const ShapeDesc& s, std::string_view name) const {
  for (const MemberDesc& m : MembersOf(s)) {
    if (m.name == name) return &m;
  }
  return nullptr;
}

const ServiceModel& EcsModel() { return gen_ecs::Model(); }
const ServiceModel& Ec2Model() { return gen_ec2::Model(); }
const ServiceModel& Elbv2Model() { return gen_elbv2::Model(); }
const ServiceModel& ServiceDiscoveryModel() { return gen_servicediscovery::Model(); }
const ServiceModel& LogsModel() { return gen_logs::Model(); }
const ServiceModel& SsmModel() { return gen_ssm::Model(); }
const ServiceModel& SecretsManagerModel() { return gen_secretsmanager::Model(); }
const ServiceModel& EcrModel() { return gen_ecr::Model(); }
const ServiceModel& StsModel() { return gen_sts::Model(); }
const ServiceModel& AutoScalingModel() { return gen_autoscaling::Model(); }

}  // namespace kecs::model
