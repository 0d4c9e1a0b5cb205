/*
 * tangle/tangle.h: the whole of libtangle: Go's channels, select, context,
 * WaitGroup, errgroup and worker pools for C, plus the in-process checks.
 * Link with -ltangle (pkg-config --cflags --libs tangle).
 */
#ifndef TANGLE_TANGLE_H
#define TANGLE_TANGLE_H

#include "base.h"
#include "chan.h"
#include "check.h"
#include "ctx.h"
#include "go.h"
#include "group.h"
#include "pool.h"
#include "wg.h"

#endif
