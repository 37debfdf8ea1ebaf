#pragma once
// The Amazon EC2 Auto Scaling model compiled into this binary (Query protocol, 2011-01-01,
// signing name autoscaling; defined in shapes.cc with the others, declared apart so that
// adding it rebuilt no user of shapes.h).
#include "model/shapes.h"

namespace kecs::model {

const ServiceModel& AutoScalingModel();

}  // namespace kecs::model
