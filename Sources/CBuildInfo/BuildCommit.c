#include "CBuildInfo.h"

// The commit is passed as a bare token (-DTOKENWATCH_GIT_COMMIT=d1a20de or d1a20de-dirty) and turned
// into a string here, so no shell or build tool has to carry quotes through.
#define TOKENWATCH_STRINGIFY_(x) #x
#define TOKENWATCH_STRINGIFY(x) TOKENWATCH_STRINGIFY_(x)

#ifdef TOKENWATCH_GIT_COMMIT
static const char commit[] = TOKENWATCH_STRINGIFY(TOKENWATCH_GIT_COMMIT);
#else
static const char commit[] = "unknown";
#endif

const char *tokenwatch_build_commit(void) { return commit; }
