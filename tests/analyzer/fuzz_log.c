/*
 * fuzz_log.c: libFuzzer entry for the log reader and the analyses, for
 * runs longer than `make test` allows (`make -C analyzer fuzz`, clang with
 * -fsanitize=fuzzer,address). A random file almost never gets past the
 * magic and version checks, so the input is read as a patch script
 * applied to a valid log (logbuild.h's lb_rich_log): a length to truncate
 * to, then (offset, byte) pairs. Everything the reader accepts is analyzed
 * and written in every format, as `tangle report` would.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analyzer.h"
#include "logbuild.h"

static struct lb base;
static unsigned char *work;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!base.buf) {
        base = lb_rich_log();
        if (posix_memalign((void **)&work, 4096, base.size))
            abort();
    }
    memcpy(work, base.buf, base.size);
    size_t len = base.size;
    if (size >= 4) {
        uint32_t cut;
        memcpy(&cut, data, 4);
        if (cut & 1)
            len = (cut >> 1) % base.size + 1;
        data += 4;
        size -= 4;
    }
    for (; size >= 5; data += 5, size -= 5) {
        uint32_t off;
        memcpy(&off, data, 4);
        work[off % base.size] = data[4];
    }
    struct tlog *log;
    char *err = NULL;
    if (tlog_open_mem(work, len, "fuzz.tlog", &log, &err) < 0) {
        free(err);
        return 0;
    }
    struct an_options opt;
    report_options_init(&opt);
    opt.show_gated = true;
    opt.hang = len & 1;
    struct an_report *rep = report_new();
    report_add_log(rep, log, &opt);
    report_finish(rep, NULL);
    FILE *null = fopen("/dev/null", "w");
    report_json(null, rep, &opt);
    report_text(null, rep, &opt);
    report_sarif(null, rep, &opt);
    fclose(null);
    report_free(rep);
    tlog_close(log);
    return 0;
}
