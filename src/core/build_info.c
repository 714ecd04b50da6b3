/* Build information for `reckon --version`: set by CMake (cmake/Dependencies.cmake). */
#include "reckon/core.h"

#ifndef RECKON_VERSION
#define RECKON_VERSION "0.0.0"
#endif
#ifndef RECKON_GIT_REVISION
#define RECKON_GIT_REVISION "unknown"
#endif
#ifndef RECKON_FEATURES
#define RECKON_FEATURES ""
#endif

const char *rk_version(void) { return RECKON_VERSION; }
const char *rk_git_revision(void) { return RECKON_GIT_REVISION; }
const char *rk_build_features(void) { return RECKON_FEATURES; }
