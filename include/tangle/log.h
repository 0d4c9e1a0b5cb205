/*
 * tangle/log.h: the on-disk (shared-memory) log written by the preload shim
 * and read by the analyzer. Version 1. docs/log-format.md is the prose.
 *
 * One file per process, created O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600, sized
 * once with ftruncate (sparse: untouched pages cost nothing) and mapped
 * MAP_SHARED, so it survives a crash or kill -9 and can be read while the
 * program runs.
 *
 * Layout: a header at offset 0 (TG_LOG_HEADER_SIZE bytes), then sections at
 * page-aligned offsets named by header.sec[]. Native byte order (the
 * header's endian word tells a reader on another machine), natural
 * alignment, all offsets from the start of the file.
 *
 * Tables that must never lose data (strings, modules, stacks, threads,
 * objects, lock-order edges, findings) are separate from the event stream.
 * A table that fills up counts what it could not hold in sec[].dropped: it
 * never forgets silently, and the analyzer says what was lost.
 *
 * Crash consistency: every record starts with a commit word that the
 * writer stores last, with release order, after filling the record; a
 * reader loads it with acquire order and ignores a record whose commit
 * word is not TG_LOG_COMMITTED (unwritten or torn). Thread and object
 * records also have mutable parts guarded by a sequence word (odd while
 * being written): a reader retries a few times, then uses what it read and
 * marks it as possibly inconsistent.
 *
 * A reader trusts nothing: every count, offset, length and id read from
 * the file is checked against the file size and section bounds first.
 */
#ifndef TANGLE_LOG_H
#define TANGLE_LOG_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TG_LOG_MAGIC        "TANGLOG\0"   /* 8 bytes */
#define TG_LOG_VERSION      1u
#define TG_LOG_ENDIAN       0x01020304u
#define TG_LOG_HEADER_SIZE  8192u
#define TG_LOG_COMMITTED    0x7a6c6f67u   /* "golz": record complete */
#define TG_LOG_SUFFIX       ".tlog"
#define TG_LOG_MAX_HELD     16
#define TG_LOG_MAX_CYCLE    16
#define TG_LOG_MAX_GATES    6
#define TG_LOG_MAX_FRAMES   64
#define TG_LOG_CHUNK_BYTES  65536u

#ifdef __cplusplus
#define TG_LOG_ATOMIC(T) T
#else
#define TG_LOG_ATOMIC(T) _Atomic T
#endif

enum tg_log_section_id {
    TG_SEC_STRINGS = 0,  /* NUL-terminated strings; a string id is its
                            byte offset in the section plus 1 (0: none) */
    TG_SEC_MODULES,      /* struct tg_log_module[] */
    TG_SEC_STACKS,       /* struct tg_log_stack, variable size, 8-aligned;
                            a stack id is its byte offset / 8 + 1 (0: none) */
    TG_SEC_THREADS,      /* struct tg_log_thread[]; thread id = index + 1 */
    TG_SEC_OBJECTS,      /* struct tg_log_object[]; object id = index + 1 */
    TG_SEC_EDGES,        /* struct tg_log_edge[] */
    TG_SEC_FINDINGS,     /* struct tg_log_finding[] (found in-process) */
    TG_SEC_EVENTS,       /* struct tg_log_chunk[], TG_LOG_CHUNK_BYTES each */
    TG_SEC_COUNT
};

struct tg_log_section {
    uint64_t offset;     /* from the start of the file, page-aligned */
    uint64_t size;       /* bytes reserved */
    uint32_t rec_size;   /* fixed record size; 0 for variable records */
    uint32_t reserved;
    TG_LOG_ATOMIC(uint64_t) used;     /* records (fixed) or bytes (variable)
                                         handed out; may exceed capacity
                                         transiently: clamp to size */
    TG_LOG_ATOMIC(uint64_t) dropped;  /* records that did not fit */
};

/* header.flags */
enum {
    TG_LOGF_FULL       = 1u << 0,  /* events: keep all (else flight ring) */
    TG_LOGF_RACE       = 1u << 1,  /* memory accesses are logged (race=log) */
    TG_LOGF_WATCHDOG   = 1u << 2,  /* a watchdog thread ran */
    TG_LOGF_FORK_CHILD = 1u << 3,  /* made by fork(): see parent_pid */
    TG_LOGF_UNDER_RUN  = 1u << 4,  /* started by `tangle run` */
    TG_LOGF_RACE_CHECK = 1u << 5,  /* the in-process race checker ran:
                                      races are TG_FIND_RACE findings */
};

/* header.proc_state */
enum tg_log_proc_state {
    TG_PROC_RUNNING = 0,
    TG_PROC_EXITED,      /* exit(), return from main, _exit: exit_code */
    TG_PROC_SIGNALED,    /* fatal signal: exit_code is the signal number */
    TG_PROC_EXECED,      /* replaced by execve: the new image logs anew */
    TG_PROC_DEADLOCKED,  /* ended by the watchdog after a deadlock */
};

struct tg_log_header {
    char magic[8];                  /* TG_LOG_MAGIC */
    uint32_t version;               /* TG_LOG_VERSION */
    uint32_t header_size;           /* TG_LOG_HEADER_SIZE */
    uint32_t endian;                /* TG_LOG_ENDIAN */
    uint32_t flags;                 /* TG_LOGF_* */
    uint64_t file_size;
    int32_t pid, parent_pid;        /* parent_pid: the forking process */
    uint64_t start_real_ns;         /* CLOCK_REALTIME at creation */
    uint64_t start_mono_ns;         /* CLOCK_MONOTONIC at creation; every
                                       *_ns below is CLOCK_MONOTONIC */
    char exe[512];                  /* /proc/self/exe */
    char cmdline[1024];             /* argv, space separated, truncated */
    struct tg_log_section sec[TG_SEC_COUNT];

    /* Updated while the process runs. */
    TG_LOG_ATOMIC(uint32_t) proc_state;   /* enum tg_log_proc_state */
    int32_t exit_code;              /* exit status or signal number */
    TG_LOG_ATOMIC(uint64_t) end_ns;       /* final snapshot written */
    TG_LOG_ATOMIC(uint64_t) heartbeat_ns; /* last watchdog pass */
    uint32_t exit_thread;           /* thread id that ended the process */
    uint32_t exit_stack;            /* its stack then (0: unknown) */
    TG_LOG_ATOMIC(uint32_t) mark_epoch;   /* tg_leak_mark count */
    uint32_t reserved0;
    uint64_t sync_clock;            /* race mode: global sync timestamp */
    char options[512];              /* TANGLE_OPTIONS as given */
};

/* ---- strings, modules, stacks ------------------------------------- */

struct tg_log_module {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t build_id_len;
    uint64_t bias;                  /* load bias (dlpi_addr) */
    uint64_t start, end;            /* lowest and highest PT_LOAD address */
    uint8_t build_id[40];
    char path[256];
    uint64_t loaded_ns;
};

struct tg_log_stack {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t nframes;               /* <= TG_LOG_MAX_FRAMES */
    uint32_t hash;
    uint32_t reserved;
    uint64_t pc[];                  /* return addresses, innermost first */
};

/* ---- threads ------------------------------------------------------------ */

enum tg_thread_state {
    TG_TS_RUNNING = 1,
    TG_TS_BLOCKED,                  /* wait_* say in what */
    TG_TS_EXITED,                   /* finished (see flags for join) */
};

/* What a blocked thread waits in (thread.wait_op, finding threads). */
enum tg_wait_op {
    TG_WAIT_NONE = 0,
    TG_WAIT_MUTEX,        /* "mutex lock" */
    TG_WAIT_RWLOCK_RD,    /* "rwlock read" */
    TG_WAIT_RWLOCK_WR,    /* "rwlock write" */
    TG_WAIT_SPIN,         /* "spin lock" */
    TG_WAIT_COND,         /* "cond wait"; wait_obj2 = the mutex */
    TG_WAIT_SEM,          /* "sem wait" */
    TG_WAIT_BARRIER,      /* "barrier wait" */
    TG_WAIT_JOIN,         /* "join"; wait_obj = pthread_t, wait_obj2 = id */
    TG_WAIT_ONCE,         /* "once" */
    TG_WAIT_CHAN_SEND,    /* "chan send" */
    TG_WAIT_CHAN_RECV,    /* "chan receive" */
    TG_WAIT_SELECT,       /* "select"; wait_obj = first channel */
    TG_WAIT_WG,           /* "wg wait" */
    TG_WAIT_CTX,          /* "ctx wait" */
    TG_WAIT_GROUP,        /* "group wait" */
    TG_WAIT_GROUP_GO,     /* "group go" (at the limit) */
    TG_WAIT_POOL_SUBMIT,  /* "pool submit" */
    TG_WAIT_POOL_SHUTDOWN,/* "pool shutdown" */
    TG_WAIT_SLEEP,        /* "sleep" (not a deadlock) */
    TG_WAIT_GROUP_IDLE,   /* "group idle": an errgroup's thread between
                             tasks; at exit, a group never waited for */
    TG_WAIT_LOCK,         /* "lock": a lock of the program's own, annotated
                             with __tsan_mutex_* calls */
    TG_WAIT_OP_COUNT
};

/* thread.flags */
enum {
    TG_THRF_MAIN      = 1u << 0,
    TG_THRF_INTERNAL  = 1u << 1,  /* tangle's own (watchdog): never reported */
    TG_THRF_DETACHED  = 1u << 2,
    TG_THRF_JOINED    = 1u << 3,
    TG_THRF_CANCELED  = 1u << 4,  /* ended by pthread_cancel */
    TG_THRF_FOREIGN   = 1u << 5,  /* not the program's (test runner) */
    TG_THRF_MARKED    = 1u << 6,  /* alive at the last tg_leak_mark */
    TG_THRF_NO_CREATE = 1u << 7,  /* first seen running, not at create */
};

struct tg_log_held {
    uint64_t addr;                  /* lock address */
    uint32_t obj;                   /* object id */
    uint32_t stack;                 /* where it was taken */
    uint32_t mode;                  /* 0 exclusive, 1 read */
    uint32_t reserved;
};

struct tg_log_thread {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t id;                    /* index + 1 */
    int32_t os_tid;
    uint32_t parent;                /* creating thread's id, 0: none */
    uint64_t pthread;               /* pthread_t value */
    uint64_t start_routine;         /* address (0 for main) */
    uint32_t create_stack;          /* creator's stack at pthread_create */
    TG_LOG_ATOMIC(uint32_t) flags;  /* TG_THRF_* */
    char name[16];
    uint64_t created_ns;
    TG_LOG_ATOMIC(uint64_t) exited_ns;
    uint32_t joined_by;
    uint32_t exit_stack;            /* pthread_exit / cancel site, 0 */

    /* Mutable: writer makes seq odd, writes, makes it even (release). */
    TG_LOG_ATOMIC(uint32_t) seq;
    uint32_t state;                 /* enum tg_thread_state */
    uint32_t wait_op;               /* enum tg_wait_op */
    uint32_t wait_stack;            /* where it blocked */
    uint64_t wait_obj;              /* address waited on */
    uint64_t wait_obj2;
    uint64_t wait_since_ns;
    int64_t wait_deadline_ns;       /* INT64_MAX: no timeout */
    uint32_t held_count;            /* may exceed TG_LOG_MAX_HELD; held[]
                                       is synced when the thread blocks or
                                       ends, may be stale while it runs */
    uint32_t reserved;
    struct tg_log_held held[TG_LOG_MAX_HELD];
};

/* ---- objects -------------------------------------------------------------- */

enum tg_log_obj_kind {
    TG_LOBJ_MUTEX = 1,
    TG_LOBJ_RWLOCK,
    TG_LOBJ_SPIN,
    TG_LOBJ_COND,
    TG_LOBJ_SEM,
    TG_LOBJ_BARRIER,
    TG_LOBJ_ONCE,
    TG_LOBJ_CHAN,
    TG_LOBJ_CTX,
    TG_LOBJ_WG,
    TG_LOBJ_GROUP,
    TG_LOBJ_POOL,
    TG_LOBJ_LOCK,        /* a lock of the program's own, annotated for TSan
                            (__tsan_mutex_*): "lock" */
    TG_LOBJ_KIND_COUNT
};

/* object.flags */
enum {
    TG_OBJF_DESTROYED  = 1u << 0,
    TG_OBJF_IMPLICIT   = 1u << 1,  /* first seen in use (static init) */
    TG_OBJF_CANCELABLE = 1u << 2,  /* ctx with a cancel or deadline */
    TG_OBJF_CANCELED   = 1u << 3,  /* ctx cancelled */
    TG_OBJF_EXPIRED    = 1u << 4,  /* ctx deadline passed */
    TG_OBJF_CLOSED     = 1u << 5,  /* chan closed */
    TG_OBJF_INTERNAL   = 1u << 6,  /* part of another object (ctx done) */
    TG_OBJF_RECURSIVE  = 1u << 7,  /* mutex types */
    TG_OBJF_ERRORCHECK = 1u << 8,
    TG_OBJF_ROBUST     = 1u << 9,
    TG_OBJF_FREED      = 1u << 10, /* ctx freed */
};

struct tg_log_object {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t kind;                  /* enum tg_log_obj_kind */
    uint64_t addr;
    uint32_t id;                    /* index + 1 */
    uint32_t generation;            /* earlier objects at this address */
    uint32_t create_stack;          /* init / creation, or first use */
    uint32_t create_thread;
    uint64_t created_ns;
    TG_LOG_ATOMIC(uint32_t) flags;  /* TG_OBJF_* */
    uint32_t destroy_stack;
    uint64_t a, b;                  /* chan: elem size, cap; ctx: parent
                                       address, deadline ns (INT64_MAX none);
                                       sem: initial value; barrier: count */
    uint64_t owner_addr;            /* ctx done chan: its ctx; else 0 */
    uint32_t event_stack;           /* chan: close site; ctx: cancel site */
    uint32_t name;                  /* string id (pool/group name), 0 */
    uint64_t destroyed_ns;
    uint64_t event_ns;              /* chan close / ctx cancel time */
};

/* ---- lock-order edges -------------------------------------------------- */

/* A -> B: some thread acquired B while holding A. First witness kept, with
 * the stacks of both acquisitions. gates[] is the set of other locks that
 * were held at every observation of this edge (it only shrinks); a cycle
 * whose edges share a gate cannot deadlock. */
struct tg_log_edge {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t thread;                /* first witness */
    uint32_t from, to;              /* object ids */
    uint32_t from_mode, to_mode;    /* 0 exclusive, 1 read */
    uint32_t from_stack;            /* where `from` was taken */
    uint32_t to_stack;              /* where `to` was taken (full stack) */
    uint64_t first_ns;
    TG_LOG_ATOMIC(uint32_t) count;  /* observations (saturating) */
    TG_LOG_ATOMIC(uint32_t) ngates; /* read (acquire) before gates[] */
    uint32_t gates[TG_LOG_MAX_GATES];   /* object ids */
};

/* ---- findings made in-process ----------------------------------------- */

enum tg_log_finding_kind {
    TG_FIND_MISUSE = 1,
    TG_FIND_DEADLOCK,            /* wait-for cycle seen by the watchdog */
    TG_FIND_ALL_ASLEEP,          /* every live thread blocked, no timeout */
    TG_FIND_LEAK,                /* tg_leak_verify checkpoint */
    TG_FIND_RACE,                /* data race, found by the in-process
                                    race checker (see below) */
};

/* A TG_FIND_RACE record. Two accesses to overlapping bytes by two threads,
 * at least one a write, not both atomic, and the earlier not ordered
 * before the later by happens-before. The finding's fields say:
 *   thread, thread2   the later access's thread, the earlier's
 *   stack, stack2     their stacks; the innermost frame is the access
 *   value, obj        the later access's address, the earlier's
 *   subkind           TG_RACE_ACC() of the later access, and that of the
 *                     earlier shifted left by 16
 *   obj_id            the thread whose stack holds obj, else 0
 *   threads[0]        the heap block holding obj, all 0 when none is
 *                     known: .thread allocated it, .wait_stack where,
 *                     .wait_obj its address, .holder:.wait_op its size
 *                     (high:low 32 bits)
 *   threads[1..nthreads-1]  a lock held at one of the accesses:
 *                     .wait_obj its address, .wait_op 0 (the later
 *                     access's thread held it) or 1 (the earlier's)
 *   time_ns           when the later access was checked
 */
/* The arg of a task end's release and of the group wait or pool shutdown
 * that acquires it (a task's start pairs by its number instead). */
#define TG_SEQ_TASKS_DONE (UINT64_MAX - 1)

#define TG_RACE_ACC(size, write, atomic) \
    (((uint32_t)(size) & 0xffu) | ((write) ? 0x100u : 0u) | ((atomic) ? 0x200u : 0u))
#define TG_RACE_ACC_FREED     0x400u   /* the write is a free of the block */
#define TG_RACE_ACC_SIZE(a)   ((a) & 0xffu)
#define TG_RACE_ACC_WRITE(a)  (((a) & 0x100u) != 0)
#define TG_RACE_ACC_ATOMIC(a) (((a) & 0x200u) != 0)
#define TG_RACE_ACC_FREE(a)   (((a) & TG_RACE_ACC_FREED) != 0)

enum tg_misuse {
    TG_MIS_UNLOCK_NOT_HELD = 1,  /* "unlock-not-held" */
    TG_MIS_UNLOCK_FOREIGN,       /* "unlock-foreign" */
    TG_MIS_RELOCK,               /* "relock" */
    TG_MIS_DESTROY_LOCKED,       /* "destroy-locked" */
    TG_MIS_DESTROY_WAITED,       /* "destroy-waited" (cond, barrier) */
    TG_MIS_EXIT_HOLDING,         /* "exit-holding-lock" */
    TG_MIS_COND_NO_MUTEX,        /* "cond-wait-unlocked" */
    TG_MIS_COND_TWO_MUTEXES,     /* "cond-two-mutexes" */
    TG_MIS_WG_NEGATIVE,          /* "wg-negative" */
    TG_MIS_SEND_CLOSED,          /* "send-on-closed" */
    TG_MIS_DOUBLE_CLOSE,         /* "double-close" */
    TG_MIS_CHAN_FREE_BUSY,       /* "free-busy" */
    TG_MIS_COUNT
};

struct tg_log_finding_thread {
    uint32_t thread;
    uint32_t wait_op;               /* enum tg_wait_op */
    uint32_t wait_stack;
    uint32_t holder;                /* thread holding wait_obj, 0 */
    uint64_t wait_obj;
};

struct tg_log_finding {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t kind;                  /* enum tg_log_finding_kind */
    uint32_t subkind;               /* misuse: enum tg_misuse */
    uint32_t thread;                /* offending / reporting thread */
    uint64_t obj;                   /* address concerned */
    uint32_t obj_id;
    uint32_t stack;                 /* the offending call */
    uint32_t stack2;                /* the relevant earlier one */
    uint32_t thread2;               /* the other thread (owner...) */
    uint64_t time_ns;
    uint64_t value;                 /* leak: checkpoint number */
    uint32_t nthreads;
    uint32_t reserved;
    struct tg_log_finding_thread threads[TG_LOG_MAX_CYCLE];
};

/* ---- the event stream ---------------------------------------------------- */

/* Each thread appends to a chunk of its own; a chunk holds events of one
 * thread. `used` is stored (release) after the events it counts are
 * written. In flight-recorder mode the section is a ring and the oldest
 * chunk is reused (its generation grows); in full mode a full section
 * drops events and counts them. */
struct tg_log_chunk {
    TG_LOG_ATOMIC(uint32_t) commit;
    uint32_t thread;                /* owner thread id */
    uint64_t thread_seq;            /* order among the owner's chunks */
    TG_LOG_ATOMIC(uint32_t) used;   /* events written */
    uint32_t cap;                   /* events that fit */
    TG_LOG_ATOMIC(uint64_t) generation;
    uint64_t reserved[4];           /* header is 64 bytes */
};

enum tg_event_type {
    TG_EV_NONE = 0,
    /* lifecycle (addr: object or pthread_t, arg: other id) */
    TG_EV_THREAD_START,   /* arg: parent id */
    TG_EV_THREAD_EXIT,
    TG_EV_THREAD_CREATE,  /* addr: child thread id */
    TG_EV_THREAD_JOIN,    /* addr: joined thread id */
    TG_EV_LOCK,           /* addr: lock, arg: acquisition seq, size: mode.
                             The seq is the number of releases of the lock
                             before this acquisition (full mode only) */
    TG_EV_UNLOCK,         /* addr: lock, arg: acquisition seq: this
                             release's number (1, 2...); release r happens
                             before every LOCK whose arg >= r */
    TG_EV_BLOCK,          /* size: tg_wait_op, addr: object */
    TG_EV_UNBLOCK,
    /* synchronization for the race checker (addr: sync object/tag,
       arg: sequence number as the object's rules define; a group's or
       pool's task ends release with arg TG_SEQ_TASKS_DONE, which its
       wait or shutdown acquires) */
    TG_EV_RELEASE,
    TG_EV_ACQUIRE,
    TG_EV_RELEASE_ACQUIRE,
    /* memory accesses (race mode): size bytes at addr, arg: pc,
       stack: shadow stack id */
    TG_EV_READ,
    TG_EV_WRITE,
    TG_EV_FUNC_ENTER,     /* addr: pc (when not folded into stack ids) */
    TG_EV_FUNC_EXIT,
    TG_EV_IGNORE_BEGIN,
    TG_EV_IGNORE_END,
    TG_EV_ALLOC,          /* addr, arg: size */
    TG_EV_FREE,
    TG_EV_BENIGN,         /* a known, accepted race: addr, arg: length */
    TG_EV_THREAD_STACK,   /* race mode: the thread's stack, addr: lowest
                             address, arg: size */
    TG_EV_TYPE_COUNT
};

/* event.flags */
enum {
    TG_EVF_ATOMIC = 1u << 0,
    TG_EVF_RANGE  = 1u << 1,   /* arg holds the length, not the pc */
};

struct tg_log_event {
    uint8_t type;                   /* enum tg_event_type */
    uint8_t size;                   /* access size / op subtype */
    uint16_t flags;                 /* TG_EVF_* */
    uint32_t stack;                 /* stack id, 0: none */
    uint64_t addr;
    uint64_t arg;
};

#ifdef __cplusplus
}
#endif
#endif
