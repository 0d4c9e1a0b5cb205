/*
 * main.c: the `tangle` command line. It reads like a table of contents:
 * a table of commands, each with its one-line summary and help text, and
 * a dispatcher. A new command is one more row (and its cmd_*.c file).
 */
#include <stdio.h>
#include <string.h>

#include "analyzer.h"
#include "race.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
    const char *help;
};

#define REPORT_OPTIONS \
    "  --format text|json|sarif  report format (default text)\n" \
    "  -o, --output FILE         write the report to FILE (-: stdout); by\n" \
    "                            default run reports on stderr, report on\n" \
    "                            stdout\n" \
    "  --suppressions FILE       kind:pattern lines (also $TANGLE_SUPPRESSIONS)\n" \
    "  --exitcode N              exit status when there are findings (66)\n" \
    "  --show-gated              list lock-order cycles made safe by a gate\n" \
    "                            lock as notes\n" \
    "  --full-stacks             keep libtangle's own frames at the top of\n" \
    "                            stacks (hidden by default)\n"

#define EXIT_CODES \
    "Exit status: 0 (report) or the command's own (run) when nothing is\n" \
    "found, 66 (--exitcode) when something is, 64 usage error, 65 no usable\n" \
    "log, 70 internal error (cannot create the log directory, start the\n" \
    "command...).\n"

static const struct command commands[] = {
    {"run", cmd_run, "run a command under the detector and report",
     "usage: tangle run [options] -- CMD [ARGS...]\n\n"
     "Runs CMD with the preload shim (inherited by every child process),\n"
     "then analyzes the log of every process it started.\n\n"
     "Options:\n" REPORT_OPTIONS
     "  --timeout SECS            on expiry, snapshot every thread (hang\n"
     "                            finding) and kill the process group\n"
     "  --keep-logs DIR           log into DIR and keep the logs\n"
     "  --options STR             extra TANGLE_OPTIONS (key=value,...)\n"
     "  --watchdog MS             watchdog interval (0 = off)\n"
     "  --no-abort                let a deadlocked program hang on\n"
     "  --full                    keep every event (mode=full)\n\n"
     EXIT_CODES},
    {"report", cmd_report, "analyze existing logs",
     "usage: tangle report [options] LOG... | DIR\n\n"
     "Analyzes logs written by the shim (a directory: every tangle.*.tlog\n"
     "in it, by pid). Works on the log of a process still running.\n\n"
     "Options:\n" REPORT_OPTIONS "\n" EXIT_CODES},
    {"ps", cmd_ps, "show what every thread of a process is doing now",
     "usage: tangle ps [--all] PID|LOG\n\n"
     "Prints every thread of a traced process: its state, how long it has\n"
     "been blocked, on what, where, and who created it. A PID is looked up\n"
     "as the newest tangle.PID.*.tlog in $TANGLE_DIR (default /dev/shm),\n"
     "then in the process's own TANGLE_DIR (as set by tangle run).\n"
     "--all (-a) also shows tangle's own threads and finished, joined\n"
     "ones.\n"},
    {"graph", cmd_graph, "write the lock-order graph as Graphviz DOT",
     "usage: tangle graph [-o FILE] LOG\n\n"
     "Writes the lock-order graph of LOG in DOT: locks as nodes, \"held A\n"
     "then took B\" as edges labelled with both acquisition sites. Locks and\n"
     "edges of cycles that can deadlock are red; cycles guarded by a common\n"
     "lock are dashed orange. Render with: dot -Tpng -o graph.png\n"},
    {"cc", cmd_cc, "compile and link a C program for the race checker",
     "usage: tangle cc [--cc COMPILER] ARGS...\n\n"
     "Runs the C compiler ($CC, else cc) with ARGS, adding -fsanitize=thread\n"
     "(and -g) to compile steps and linking libtangle instead of libtsan.\n"
     "Use as CC=\"tangle cc\" with make or CMake; see docs/races.md.\n"},
    {"c++", cmd_cxx, "compile and link a C++ program for the race checker",
     "usage: tangle c++ [--cc COMPILER] ARGS...\n\n"
     "As 'tangle cc', with $CXX (else c++).\n"},
    {"help", NULL, "show help for a command", "usage: tangle help [CMD]\n"},
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void command_help(const char *cmd, FILE *out)
{
    for (size_t i = 0; cmd && i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, cmd) == 0) {
            fputs(commands[i].help, out);
            return;
        }
    fputs("usage: tangle COMMAND [options] [ARGS]\n\n"
          "tangle finds leaked threads, lock-order inversions, deadlocks,\n"
          "API misuse and races in threaded C programs.\n\nCommands:\n", out);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fputs("\nOther options: --help, --version.\n"
          "See 'tangle help COMMAND'.\n\n" EXIT_CODES, out);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return command_help(NULL, stderr), EXIT_USAGE;
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        command_help(NULL, stdout);
        return 0;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
        printf("tangle %s (report format %d, log version %u)\n",
               TANGLE_VERSION, TANGLE_REPORT_VERSION, TG_LOG_VERSION);
        return 0;
    }
    if (strcmp(cmd, "help") == 0) {
        if (argc > 2) {
            for (size_t i = 0; i < NCOMMANDS; i++)
                if (strcmp(commands[i].name, argv[2]) == 0) {
                    command_help(argv[2], stdout);
                    return 0;
                }
            return usage_error(NULL, "unknown command '%s'", argv[2]);
        }
        command_help(NULL, stdout);
        return 0;
    }
    for (size_t i = 0; i < NCOMMANDS; i++)
        if (commands[i].fn && strcmp(commands[i].name, cmd) == 0) {
            int status = commands[i].fn(argc - 1, argv + 1);
            if (status == CMD_SHOW_HELP) {
                command_help(cmd, stdout);
                status = 0;
            }
            return status;
        }
    return usage_error(NULL, "unknown command '%s'", cmd);
}
