#include "base/status.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace kecs {
namespace {

TEST(Status, DefaultIsOkAndPrintsOk) {
  Status st;
  EXPECT_TRUE(st.ok());
  EXPECT_EQ(st.code(), Code::kOk);
  EXPECT_EQ(st.message(), "");
  EXPECT_EQ(st.ToString(), "OK");
  EXPECT_TRUE(Status::Ok().ok());
}

TEST(Status, ErrorCarriesCodeAndMessage) {
  Status st = NotFound("cluster x");
  EXPECT_FALSE(st.ok());
  EXPECT_EQ(st.code(), Code::kNotFound);
  EXPECT_EQ(st.message(), "cluster x");
  EXPECT_EQ(st.ToString(), "NotFound: cluster x");
}

TEST(Status, ConstructorsMapToTheirCodes) {
  EXPECT_EQ(NotFound("").code(), Code::kNotFound);
  EXPECT_EQ(AlreadyExists("").code(), Code::kAlreadyExists);
  EXPECT_EQ(InvalidArgument("").code(), Code::kInvalidArgument);
  EXPECT_EQ(FailedPrecondition("").code(), Code::kFailedPrecondition);
  EXPECT_EQ(ResourceExhausted("").code(), Code::kResourceExhausted);
  EXPECT_EQ(Unavailable("").code(), Code::kUnavailable);
  EXPECT_EQ(PermissionDenied("").code(), Code::kPermissionDenied);
  EXPECT_EQ(Internal("").code(), Code::kInternal);
}

TEST(Status, CodeNameNamesEveryCode) {
  EXPECT_STREQ(CodeName(Code::kOk), "OK");
  EXPECT_STREQ(CodeName(Code::kNotFound), "NotFound");
  EXPECT_STREQ(CodeName(Code::kAlreadyExists), "AlreadyExists");
  EXPECT_STREQ(CodeName(Code::kInvalidArgument), "InvalidArgument");
  EXPECT_STREQ(CodeName(Code::kFailedPrecondition), "FailedPrecondition");
  EXPECT_STREQ(CodeName(Code::kResourceExhausted), "ResourceExhausted");
  EXPECT_STREQ(CodeName(Code::kUnavailable), "Unavailable");
  EXPECT_STREQ(CodeName(Code::kPermissionDenied), "PermissionDenied");
  EXPECT_STREQ(CodeName(Code::kInternal), "Internal");
}

TEST(Status, ToStringIncludesCodeNameForEveryError) {
  EXPECT_EQ(AlreadyExists("a").ToString(), "AlreadyExists: a");
  EXPECT_EQ(Internal("boom").ToString(), "Internal: boom");
}

TEST(PosixError, MapsErrnoToCodes) {
  struct Case { int err; Code code; };
  const std::vector<Case> cases = {
      {ENOENT, Code::kNotFound},          {ESRCH, Code::kNotFound},
      {ENODEV, Code::kNotFound},          {EEXIST, Code::kAlreadyExists},
      {EINVAL, Code::kInvalidArgument},   {EPERM, Code::kPermissionDenied},
      {EACCES, Code::kPermissionDenied},  {ENOSPC, Code::kResourceExhausted},
      {ENOMEM, Code::kResourceExhausted}, {EMFILE, Code::kResourceExhausted},
      {EAGAIN, Code::kUnavailable},       {EBUSY, Code::kUnavailable},
      {EIO, Code::kInternal},             {ENOTDIR, Code::kInternal},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(PosixError("ctx", c.err).code(), c.code) << "errno " << c.err;
  }
}

TEST(PosixError, MessageKeepsContextAndStrerror) {
  Status st = PosixError("open /var/run/netns/x", ENOENT);
  EXPECT_EQ(st.message(), std::string("open /var/run/netns/x: ") + std::strerror(ENOENT));
  EXPECT_EQ(st.ToString(), "NotFound: open /var/run/netns/x: " + std::string(std::strerror(ENOENT)));
}

TEST(Result, HoldsAValue) {
  Result<int> r = 42;
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.status().ok());
  EXPECT_EQ(r.value(), 42);
  EXPECT_EQ(*r, 42);
}

TEST(Result, HoldsAnError) {
  Result<int> r = InvalidArgument("bad");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "bad");
}

TEST(Result, ArrowAndStarReachTheValue) {
  Result<std::string> r = std::string("hello");
  EXPECT_EQ(r->size(), 5u);
  *r += "!";
  EXPECT_EQ(r.value(), "hello!");
  const Result<std::string>& cr = r;
  EXPECT_EQ(cr->size(), 6u);
  EXPECT_EQ(*cr, "hello!");
}

TEST(Result, RvalueValueMovesOutMoveOnlyTypes) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, 7);
}

Status FailAt(int which, int i) { return i == which ? Internal("step " + std::to_string(i)) : Status(); }

Status RunSteps(int fail_at, std::vector<int>* ran) {
  for (int i = 0; i < 3; ++i) {
    ran->push_back(i);
    RETURN_IF_ERROR(FailAt(fail_at, i));
  }
  return Status::Ok();
}

TEST(StatusMacros, ReturnIfErrorStopsAtTheFirstError) {
  std::vector<int> ran;
  Status st = RunSteps(1, &ran);
  EXPECT_EQ(st.code(), Code::kInternal);
  EXPECT_EQ(st.message(), "step 1");
  EXPECT_EQ(ran, (std::vector<int>{0, 1}));
}

TEST(StatusMacros, ReturnIfErrorContinuesOnOk) {
  std::vector<int> ran;
  EXPECT_TRUE(RunSteps(-1, &ran).ok());
  EXPECT_EQ(ran, (std::vector<int>{0, 1, 2}));
}

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd " + std::to_string(x));
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

TEST(StatusMacros, AssignOrReturnBindsTheValue) {
  Result<int> r = Quarter(12);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 3);
}

TEST(StatusMacros, AssignOrReturnPropagatesTheError) {
  Result<int> r = Quarter(6);  // 6 -> 3 -> odd
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "odd 3");
  EXPECT_EQ(Quarter(5).status().message(), "odd 5");
}

Result<std::unique_ptr<int>> MakeBox(bool ok) {
  if (!ok) return Unavailable("no box");
  return std::make_unique<int>(9);
}

Status UseBox(bool ok, int* out) {
  ASSIGN_OR_RETURN(auto box, MakeBox(ok));
  *out = *box;
  return Status::Ok();
}

TEST(StatusMacros, AssignOrReturnMovesMoveOnlyValues) {
  int v = 0;
  EXPECT_TRUE(UseBox(true, &v).ok());
  EXPECT_EQ(v, 9);
  Status st = UseBox(false, &v);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_EQ(st.message(), "no box");
}

}  // namespace
}  // namespace kecs
