/*
 * bench/datagen.c: writes MB megabytes of semi-compressible data to stdout
 * for the pigz benchmark: lines of words drawn from a random 512-word
 * vocabulary with random numbers among them, like a log file. gzip gets
 * roughly 3:1 out of it, so pigz does real work on both its compressing
 * and its writing side. The generator is seeded with a constant, so every
 * run times the same bytes.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 0x9e3779b97f4a7c15u;

/* xorshift64*: fast and good enough to defeat a compressor's dictionary. */
static uint64_t next(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545f4914f6cdd1du;
}

#define VOCAB 512

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: datagen MB > file\n");
        return 64;
    }
    char *end;
    errno = 0;
    unsigned long mb = strtoul(argv[1], &end, 10);
    if (errno || *end || mb == 0) {
        fprintf(stderr, "datagen: '%s' is not a positive size in MB\n",
                argv[1]);
        return 64;
    }
    static char words[VOCAB][12];
    for (int w = 0; w < VOCAB; w++) {
        int len = 3 + (int)(next() % 8);
        for (int i = 0; i < len; i++)
            words[w][i] = (char)('a' + next() % 26);
        words[w][len] = '\0';
    }
    static char buf[1 << 16];
    uint64_t want = (uint64_t)mb << 20, done = 0;
    while (done < want) {
        size_t n = 0;
        while (n < sizeof buf - 64) {
            uint64_t r = next();
            if (r % 5 == 0)
                n += (size_t)sprintf(buf + n, "%u ", (unsigned)(r >> 40));
            else
                n += (size_t)sprintf(buf + n, "%s%c", words[(r >> 8) % VOCAB],
                                     r % 13 == 0 ? '\n' : ' ');
        }
        if (n > want - done)
            n = (size_t)(want - done);
        if (fwrite(buf, 1, n, stdout) != n) {
            perror("datagen: write");
            return 1;
        }
        done += n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
