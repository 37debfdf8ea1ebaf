#pragma once
// The AWS STS model compiled into this binary (defined in shapes.cc with the others; declared
// apart so that adding it rebuilt no user of shapes.h).
#include "model/shapes.h"

namespace kecs::model {

const ServiceModel& StsModel();

}  // namespace kecs::model
