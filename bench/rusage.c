/*
 * bench/rusage.c: runs a command and prints what it cost, so the runner
 * needs neither GNU time nor a shell builtin whose format varies:
 * `RUSAGE <wall_ns> <max_rss_kb> <exit_status>` on stderr (the command
 * keeps stdout), wall time taken around fork and wait4, peak resident set
 * size from the child's rusage. The exit status is the command's own, or
 * 128 + signal.
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: rusage CMD [ARGS...]\n");
        return 64;
    }
    int64_t t0 = now_ns();
    pid_t pid = fork();
    if (pid < 0) {
        perror("rusage: fork");
        return 70;
    }
    if (pid == 0) {
        execvp(argv[1], argv + 1);
        perror("rusage: exec");
        _exit(127);
    }
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("rusage: wait4");
        return 70;
    }
    int64_t wall = now_ns() - t0;
    int code = WIFEXITED(status) ? WEXITSTATUS(status)
                                 : 128 + WTERMSIG(status);
    fprintf(stderr, "RUSAGE %lld %ld %d\n", (long long)wall, ru.ru_maxrss,
            code);
    return code;
}
