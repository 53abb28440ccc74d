#ifndef TOKENWATCH_CBUILDINFO_H
#define TOKENWATCH_CBUILDINFO_H

/// The git commit this binary was built from, or "unknown".
///
/// A C function rather than a Swift constant because a C macro can be set from the build command
/// line (`swift build -Xcc -DTOKENWATCH_GIT_COMMIT=<sha>`, as deploy/build-deb does) without a build
/// plugin or a generated file, and a plain `swift build` from a tarball still compiles.
const char *tokenwatch_build_commit(void);

#endif
