# Shared build settings, included by every component Makefile.
# Quiet by default; `make V=1` prints full commands.

TOP      := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))/..)
BUILD    ?= $(TOP)/build
LIBDIR   := $(BUILD)/lib
BINDIR   := $(BUILD)/bin
OBJROOT  := $(BUILD)/obj

CC       ?= cc
OPT      ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -g $(OPT) -Wall -Wextra -Werror \
               -Wno-unused-parameter -fno-omit-frame-pointer \
               -I$(TOP)/include -MMD -MP
# TANGLE_VALGRIND=1: the runtime's helgrind annotations (runtime/annotate.h)
# become valgrind client requests; needs valgrind's headers.
ifeq ($(TANGLE_VALGRIND),1)
  CFLAGS_BASE += -DTANGLE_VALGRIND=1
endif
LIBCFLAGS := $(CFLAGS_BASE) -fPIC

ifeq ($(V),1)
  Q :=
  say :=
else
  Q := @
  say = @printf '  %-8s %s\n' $(1) $(2);
endif

$(LIBDIR) $(BINDIR):
	$(Q)mkdir -p $@
