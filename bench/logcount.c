/*
 * bench/logcount.c: counts what a tangle log holds, independently of the
 * analyzer, so the analyzer's throughput is computed from the number of
 * events really in the file rather than from what the generator meant to
 * write. Prints `LOGCOUNT <events> <objects> <edges> <dropped_events>
 * <dropped_objects> <dropped_edges>`. Maps the file read-only
 * and checks every offset against the file size before use.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tangle/log.h>

static uint64_t used_records(const struct tg_log_section *s)
{
    uint64_t used = s->used;
    if (s->rec_size && used > s->size / s->rec_size)
        used = s->size / s->rec_size;
    return used;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: logcount FILE.tlog\n");
        return 64;
    }
    int fd = open(argv[1], O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(argv[1]);
        return 65;
    }
    size_t size = (size_t)st.st_size;
    if (size < sizeof(struct tg_log_header)) {
        fprintf(stderr, "logcount: '%s': too short for a log header\n",
                argv[1]);
        return 65;
    }
    const uint8_t *base = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (base == MAP_FAILED) {
        perror("logcount: mmap");
        return 65;
    }
    const struct tg_log_header *h = (const void *)base;
    if (memcmp(h->magic, TG_LOG_MAGIC, 8) != 0 || h->version != TG_LOG_VERSION) {
        fprintf(stderr, "logcount: '%s': not a version %u tangle log\n",
                argv[1], TG_LOG_VERSION);
        return 65;
    }
    const struct tg_log_section *ev = &h->sec[TG_SEC_EVENTS];
    if (ev->offset > size || ev->size > size - ev->offset) {
        fprintf(stderr, "logcount: '%s': event section at offset %llu "
                "lies outside the file\n", argv[1],
                (unsigned long long)ev->offset);
        return 65;
    }
    uint64_t events = 0;
    size_t evsz = sizeof(struct tg_log_event);
    for (uint64_t off = 0; off + TG_LOG_CHUNK_BYTES <= ev->size;
         off += TG_LOG_CHUNK_BYTES) {
        const struct tg_log_chunk *c = (const void *)(base + ev->offset + off);
        if (c->commit != TG_LOG_COMMITTED)
            continue;
        uint64_t fit = (TG_LOG_CHUNK_BYTES - sizeof *c) / evsz;
        uint64_t used = c->used;
        events += used < fit ? used : fit;
    }
    printf("LOGCOUNT %llu %llu %llu %llu %llu %llu\n",
           (unsigned long long)events,
           (unsigned long long)used_records(&h->sec[TG_SEC_OBJECTS]),
           (unsigned long long)used_records(&h->sec[TG_SEC_EDGES]),
           (unsigned long long)ev->dropped,
           (unsigned long long)h->sec[TG_SEC_OBJECTS].dropped,
           (unsigned long long)h->sec[TG_SEC_EDGES].dropped);
    return 0;
}
