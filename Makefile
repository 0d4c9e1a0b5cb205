# tangle: thin top-level Makefile; each component has its own.
#   make            build libraries, analyzer and samples into build/
#   make demo       tangle on the buggy and clean samples (installs deps)
#   make test       unit, end-to-end, -fsanitize=thread and helgrind tests
#                   (installs deps)
#   make TANGLE_VALGRIND=1   a runtime that tells helgrind about its own
#                   synchronization (runtime/annotate.h); `make clean` first
#   make bench      benchmarks, side by side with Go / TSan / helgrind
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX  ?= /usr/local
DESTDIR ?=
export V

.PHONY: all runtime shim analyzer samples tests test check check-tsan demo \
        bench deps install uninstall clean

all: runtime shim analyzer samples

runtime:
	@$(MAKE) --no-print-directory -C runtime
shim: runtime
	@$(MAKE) --no-print-directory -C shim
analyzer:
	@$(MAKE) --no-print-directory -C analyzer
samples: runtime
	@$(MAKE) --no-print-directory -C samples

deps:
	@./scripts/deps.sh

tests: all
	@$(MAKE) --no-print-directory -C tests

# Every suite runs even when an earlier one fails; the last line totals
# them ("tests: N passed, M failed") and sets the exit status.
test: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C tests reset-results all
	@$(MAKE) --no-print-directory -C tests run || \
	   echo "FAILED: make -C tests run" >>build/tests/results.log; \
	 $(MAKE) --no-print-directory -C tests check-tsan || \
	   echo "FAILED: make -C tests check-tsan" >>build/tests/results.log; \
	 $(MAKE) --no-print-directory -C tests summary

check: test

check-tsan: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C tests check-tsan

demo: deps
	@$(MAKE) --no-print-directory all
	@./scripts/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory -C bench run

install: all
	@./scripts/install.sh "$(DESTDIR)" "$(PREFIX)"

uninstall:
	rm -rf "$(DESTDIR)$(PREFIX)/include/tangle" \
	  "$(DESTDIR)$(PREFIX)/lib/libtangle.so"* "$(DESTDIR)$(PREFIX)/lib/libtangle.a" \
	  "$(DESTDIR)$(PREFIX)/lib/libtangle-preload.so" \
	  "$(DESTDIR)$(PREFIX)/lib/tangle-race-inline.bc" "$(DESTDIR)$(PREFIX)/lib/tangle-loops.so" \
	  "$(DESTDIR)$(PREFIX)/lib/tangle-loops-gcc.so" \
	  "$(DESTDIR)$(PREFIX)/lib/pkgconfig/tangle.pc" "$(DESTDIR)$(PREFIX)/bin/tangle"

clean:
	rm -rf build
