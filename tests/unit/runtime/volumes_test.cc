// A task's volumes on the host (runtime/local/volumes.h): where each kind lives, how a
// container mounts them (mountPoints, volumesFrom, readOnly), what is refused, and what
// PrepareVolumes makes in a temporary data directory (no root needed).
#include "runtime/local/volumes.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

#include "unit/runtime/volume_builders.h"

namespace kecs::runtime::local {
namespace {

namespace fs = std::filesystem;

const VolumePaths kPaths{"/var/lib/kecs", "/var/lib/kecs/runtime/tasks/t1"};

using fixtures::DockerVolume;
using fixtures::EfsVolume;
using fixtures::HostVolume;

ContainerSpec Container(const std::string& name, std::vector<model::MountPoint> mps = {},
                        std::vector<model::VolumeFrom> from = {}) {
  ContainerSpec c;
  c.name = name;
  c.mount_points = std::move(mps);
  c.volumes_from = std::move(from);
  return c;
}

TEST(Volumes, WhereEachKindLives) {
  EXPECT_EQ(VolumeHostPath(HostVolume("h", "/srv/data/"), kPaths), "/srv/data");
  EXPECT_EQ(VolumeHostPath(HostVolume("scratch"), kPaths), "/var/lib/kecs/runtime/tasks/t1/volumes/scratch");
  EXPECT_EQ(VolumeHostPath(DockerVolume("d", "task"), kPaths), "/var/lib/kecs/runtime/tasks/t1/volumes/d");
  EXPECT_EQ(VolumeHostPath(DockerVolume("pg", "shared"), kPaths), "/var/lib/kecs/volumes/pg/_data");
  EXPECT_EQ(VolumeHostPath(EfsVolume("e", "fs-12345678"), kPaths), "/var/lib/kecs/efs/fs-12345678");
  EXPECT_EQ(VolumeHostPath(EfsVolume("e", "fs-12345678", "/app/data"), kPaths), "/var/lib/kecs/efs/fs-12345678/app/data");
  EXPECT_EQ(VolumeHostPath(EfsVolume("e", "fs-12345678", "/", "fsap-0abc"), kPaths),
            "/var/lib/kecs/efs/fs-12345678/access-points/fsap-0abc");
  EXPECT_TRUE(IsTaskScoped(HostVolume("scratch")));
  EXPECT_TRUE(IsTaskScoped(DockerVolume("d", "task")));
  EXPECT_FALSE(IsTaskScoped(HostVolume("h", "/srv")));
  EXPECT_FALSE(IsTaskScoped(DockerVolume("pg", "shared")));
  EXPECT_FALSE(IsTaskScoped(EfsVolume("e", "fs-1")));
  EXPECT_TRUE(SeedsFromImage(DockerVolume("pg", "shared")));
  EXPECT_TRUE(SeedsFromImage(HostVolume("scratch")));
  EXPECT_FALSE(SeedsFromImage(HostVolume("h", "/srv")));
  EXPECT_FALSE(SeedsFromImage(EfsVolume("e", "fs-1")));
}

TEST(Volumes, CleanAbsolutePaths) {
  EXPECT_EQ(CleanAbsolutePath("/a//b/./c/"), "/a/b/c");
  EXPECT_EQ(CleanAbsolutePath("/"), "/");
  EXPECT_EQ(CleanAbsolutePath("a/b"), "");
  EXPECT_EQ(CleanAbsolutePath("/a/../../etc"), "");
  EXPECT_EQ(CleanAbsolutePath(""), "");
}

TEST(Volumes, MountPointsAndVolumesFrom) {
  TaskSpec t;
  t.volumes = {HostVolume("scratch"), HostVolume("cfg", "/srv/cfg"), DockerVolume("cache", "shared", true)};
  t.containers = {
      Container("writer", {{"scratch", "/data", false}, {"cfg", "/etc/app", true}}),
      Container("reader", {{"cache", "/data/cache", false}}, {{"writer", true}}),
      Container("third", {}, {{"reader", false}}),
  };
  ASSERT_TRUE(CheckVolumes(t).ok()) << CheckVolumes(t).message();
  auto w = ContainerVolumeMounts(t, t.containers[0], kPaths);
  ASSERT_TRUE(w.ok());
  ASSERT_EQ(w->size(), 2u);
  // reader: writer's mounts, all read-only (volumesFrom readOnly), and its own; parents
  // first, then by path.
  auto r = ContainerVolumeMounts(t, t.containers[1], kPaths);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].container_path, "/data");
  EXPECT_TRUE((*r)[0].read_only);
  EXPECT_EQ((*r)[0].host_path, "/var/lib/kecs/runtime/tasks/t1/volumes/scratch");
  EXPECT_EQ((*r)[1].container_path, "/data/cache");
  EXPECT_FALSE((*r)[1].read_only);
  EXPECT_EQ((*r)[2].container_path, "/etc/app");
  EXPECT_TRUE((*r)[2].read_only);
  // third copies reader's mounts (including what reader took from writer), keeping modes.
  auto th = ContainerVolumeMounts(t, t.containers[2], kPaths);
  ASSERT_TRUE(th.ok());
  ASSERT_EQ(th->size(), 3u);
  EXPECT_TRUE((*th)[0].read_only);
  EXPECT_FALSE((*th)[1].read_only);
  EXPECT_TRUE((*th)[2].read_only);
  auto oci = OciMounts(*r);
  EXPECT_EQ(oci[0].type, "bind");
  EXPECT_EQ(*oci[0].options, (std::vector<std::string>{"rbind", "rprivate", "ro"}));
  EXPECT_EQ(*oci[1].options, (std::vector<std::string>{"rbind", "rprivate"}));
}

TEST(Volumes, OwnMountPointWinsOverVolumesFrom) {
  TaskSpec t;
  t.volumes = {HostVolume("a"), HostVolume("b")};
  t.containers = {Container("src", {{"a", "/x", false}}), Container("dst", {{"b", "/x", true}}, {{"src", false}})};
  auto m = ContainerVolumeMounts(t, t.containers[1], kPaths);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->size(), 1u);
  EXPECT_EQ((*m)[0].volume, "b");
  EXPECT_TRUE((*m)[0].read_only);
}

TEST(Volumes, VolumesFromCyclesEnd) {
  TaskSpec t;
  t.volumes = {HostVolume("a")};
  t.containers = {Container("x", {{"a", "/a", false}}, {{"y", false}}), Container("y", {}, {{"x", false}})};
  auto m = ContainerVolumeMounts(t, t.containers[1], kPaths);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->size(), 1u);
}

TEST(Volumes, BadInputIsRefused) {
  auto refused = [](TaskSpec t, const std::string& words) {
    Status st = CheckVolumes(t);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << words;
    EXPECT_NE(st.message().find(words), std::string::npos) << st.message();
  };
  TaskSpec t;
  t.volumes = {HostVolume("a")};
  t.containers = {Container("c", {{"missing", "/x", false}})};
  refused(t, "is not a volume of the task");
  t.containers = {Container("c", {{"a", "relative/path", false}})};
  refused(t, "mount path must be absolute");
  t.containers = {Container("c", {{"a", "/x/../../etc", false}})};
  refused(t, "mount path must be absolute");
  t.containers = {Container("c", {{"a", "/", false}})};
  refused(t, "mount path must be absolute");
  t.containers = {Container("c", {{"a", "/x", false}, {"a", "/x/", false}})};
  refused(t, "Duplicate mount point: /x");
  t.containers = {Container("c", {}, {{"ghost", false}})};
  refused(t, "not a container of the task");
  t.containers = {};
  t.volumes = {HostVolume("a", "relative")};
  refused(t, "must be an absolute path");
  t.volumes = {HostVolume("../escape")};
  refused(t, "a volume name");
  t.volumes = {HostVolume("a"), HostVolume("a")};
  refused(t, "defined twice");
  t.volumes = {EfsVolume("e", "fs-1/../..")};
  refused(t, "fileSystemId");
  t.volumes = {EfsVolume("e", "fs-1", "/../x")};
  refused(t, "rootDirectory");
  t.volumes = {EfsVolume("e", "fs-1", "/app", "fsap-1")};
  refused(t, "access point");
}

class PrepareVolumesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kecs-volumes-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    paths_ = {dir_ + "/data", dir_ + "/data/runtime/tasks/t1"};
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dir_;
  VolumePaths paths_;
};

TEST_F(PrepareVolumesTest, MakesEveryKindsDirectory) {
  TaskSpec t;
  model::Volume shared = DockerVolume("pg", "shared", true);
  shared.docker.labels = {{"team", "db"}};
  shared.docker.driver_opts = {{"type", "none"}};
  t.volumes = {HostVolume("bind", dir_ + "/host/src"), HostVolume("scratch"), DockerVolume("tmp", "task"), shared,
               EfsVolume("e", "fs-1", "/app"), EfsVolume("ap", "fs-1", "/", "fsap-2")};
  ASSERT_TRUE(PrepareVolumes(Env::Default(), t, paths_).ok());
  for (const auto& v : t.volumes) EXPECT_TRUE(fs::is_directory(VolumeHostPath(v, paths_))) << v.name;
  std::ifstream cfg(paths_.data_dir + "/volumes/pg/config");
  std::string text((std::istreambuf_iterator<char>(cfg)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, "driver local\nlabel team=db\nopt type=none\n");
  // Again: nothing changes, nothing fails.
  ASSERT_TRUE(PrepareVolumes(Env::Default(), t, paths_).ok());
}

// A host sourcePath that is a file (a socket, say) is bound as it is.
TEST_F(PrepareVolumesTest, HostFileSourceIsLeftAlone) {
  std::string file = dir_ + "/docker.sock";
  std::ofstream(file) << "";
  TaskSpec t;
  t.volumes = {HostVolume("sock", file)};
  ASSERT_TRUE(PrepareVolumes(Env::Default(), t, paths_).ok());
  EXPECT_TRUE(fs::is_regular_file(file));
}

TEST_F(PrepareVolumesTest, MissingSharedVolumeWithoutAutoprovisionFails) {
  TaskSpec t;
  t.volumes = {DockerVolume("pg", "shared", false)};
  Status st = PrepareVolumes(Env::Default(), t, paths_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("CannotCreateVolumeError: initialize volume: volume detection failed, volume 'pg' "
                              "does not exist and autoprovision is set to false"),
            std::string::npos)
      << st.message();
  // Once it exists (made by another task with autoprovision) it is used as it is.
  TaskSpec maker;
  maker.volumes = {DockerVolume("pg", "shared", true)};
  ASSERT_TRUE(PrepareVolumes(Env::Default(), maker, paths_).ok());
  EXPECT_TRUE(PrepareVolumes(Env::Default(), t, paths_).ok());
}

TEST_F(PrepareVolumesTest, OnlyTheLocalDriver) {
  TaskSpec t;
  model::Volume v = DockerVolume("rex", "shared", true);
  v.docker.driver = "rexray/ebs";
  t.volumes = {v};
  Status st = PrepareVolumes(Env::Default(), t, paths_);
  EXPECT_EQ(st.code(), Code::kFailedPrecondition);
  EXPECT_NE(st.message().find("CannotCreateVolumeError"), std::string::npos);
  EXPECT_NE(st.message().find("rexray/ebs"), std::string::npos);
}

TEST_F(PrepareVolumesTest, SeedCopiesTheImagesFilesIntoAnEmptyVolumeOnly) {
  std::string rootfs = dir_ + "/rootfs";
  fs::create_directories(rootfs + "/usr/share/app");
  std::ofstream(rootfs + "/usr/share/app/index.html") << "from the image";
  std::string vol = dir_ + "/vol";
  fs::create_directories(vol);
  ASSERT_TRUE(SeedVolume(Env::Default(), rootfs, "/usr/share/app", vol).ok());
  EXPECT_TRUE(fs::exists(vol + "/index.html"));
  // Not empty any more: a second seed leaves the volume's own files alone.
  std::ofstream(vol + "/index.html", std::ios::trunc) << "changed";
  std::ofstream(rootfs + "/usr/share/app/other") << "x";
  ASSERT_TRUE(SeedVolume(Env::Default(), rootfs, "/usr/share/app", vol).ok());
  EXPECT_FALSE(fs::exists(vol + "/other"));
  // A symbolic link in the image's path is not followed (it could name the host's files).
  fs::create_directories(dir_ + "/outside");
  std::ofstream(dir_ + "/outside/secret") << "host";
  fs::create_symlink(dir_ + "/outside", rootfs + "/link");
  std::string vol2 = dir_ + "/vol2";
  fs::create_directories(vol2);
  ASSERT_TRUE(SeedVolume(Env::Default(), rootfs, "/link", vol2).ok());
  EXPECT_TRUE(fs::is_empty(vol2));
}

}  // namespace
}  // namespace kecs::runtime::local
