// LibTorch's CPU kernels run on OpenMP (GNU libgomp in Debian's build), whose
// idle threads spin at every barrier by default.  When the cores are shared
// (two jobs, a compiler, ctest -j) a spinning thread holds a core its peer
// needs, and a training step becomes 20-40x slower (measured on the tiny
// preset: 0.6 s vs 14 s for 20 steps with 2 threads on a busy 2-core host).
// Passive waiting costs little on big matrix products, so the worker runs with
// OMP_WAIT_POLICY=PASSIVE unless the user chose a policy.
#pragma once

namespace lorad {

/// libgomp reads its environment once, when it is loaded (before main), so
/// setting the variable takes a re-exec of this same binary.  Returns only if
/// no re-exec was needed or it failed (then the process goes on as it is).
void EnsurePassiveOpenMpWait(char** argv);

/// The policy in effect for this process ("PASSIVE", or what the user set).
const char* OpenMpWaitPolicy();

}  // namespace lorad
