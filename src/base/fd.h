#pragma once

namespace kecs {

// The first descriptor number past select()'s range (FD_SETSIZE).
inline constexpr int kFirstHighFd = 1024;

// Moves a long-lived descriptor of the daemon's to the lowest free number at or above
// kFirstHighFd (close-on-exec) and closes `fd`; returns the descriptor to use from then
// on: `fd` itself when it is already there or no such number can be had (RLIMIT_NOFILE
// at 1,024 or below), so the caller never loses its descriptor.
//
// Why: libnftables waits on its netlink socket with select(), and that socket takes the
// lowest free number; past 1,023 glibc aborts the process ("bit out of range 0 -
// FD_SETSIZE on fd_set"). Descriptors that grow with the tasks (a metadata listener per
// task netns, client connections) kept above 1,023 leave the low numbers free.
int MoveAboveSelectRange(int fd);

}  // namespace kecs
