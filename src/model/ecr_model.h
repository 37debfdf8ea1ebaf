#pragma once
// The Amazon ECR model compiled into this binary (defined in shapes.cc with the others;
// declared apart so that adding it rebuilt no user of shapes.h).
#include "model/shapes.h"

namespace kecs::model {

const ServiceModel& EcrModel();

}  // namespace kecs::model
