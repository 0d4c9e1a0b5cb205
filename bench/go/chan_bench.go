// chan_bench.go: the Go twins of bench/chan_bench.c. Each benchmark does
// in Go exactly what its C namesake does with libtangle, and the harness is
// the same as bench/bench.h (grow n until one run lasts BENCH_MIN_MS, then
// the median of BENCH_REPS runs), so the two columns of `make bench` are
// measured alike. Standard library only: errgroup is not in it, so a
// minimal one with golang.org/x/sync's semantics (first error wins and
// cancels the context, SetLimit) is written out below.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

type benchFn func(n uint64) int64

type benchDef struct {
	name string
	fn   benchFn
	what string
}

func envInt(name string, def int64) int64 {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 {
		fmt.Fprintf(os.Stderr, "bench: ignoring %s='%s': not a positive integer\n", name, s)
		return def
	}
	return v
}

func run(b benchDef) {
	minNs := envInt("BENCH_MIN_MS", 300) * 1000000
	reps := envInt("BENCH_REPS", 5)
	if reps > 31 {
		reps = 31
	}
	n := uint64(1)
	for {
		t := b.fn(n)
		if t >= minNs {
			break
		}
		if t < 1 {
			t = 1
		}
		grow := 1.2 * float64(minNs) / float64(t)
		if grow > 100 {
			grow = 100
		}
		if grow < 2 {
			grow = 2
		}
		n = uint64(float64(n) * grow)
	}
	per := make([]float64, reps)
	for r := range per {
		per[r] = float64(b.fn(n)) / float64(n)
	}
	sort.Float64s(per)
	var med float64
	if reps%2 == 1 {
		med = per[reps/2]
	} else {
		med = (per[reps/2-1] + per[reps/2]) / 2
	}
	fmt.Printf("RESULT %s %.2f %d %d\n", b.name, med, n, reps)
}

func since(t0 time.Time) int64 { return time.Since(t0).Nanoseconds() }

// One producer, one consumer, buffered capacity 1024: ns per value.
func spsc(n uint64) int64 {
	ch := make(chan int64, 1024)
	t0 := time.Now()
	go func() {
		for i := uint64(0); i < n; i++ {
			ch <- int64(i)
		}
	}()
	var sum int64
	for i := uint64(0); i < n; i++ {
		sum += <-ch
	}
	sink64 = sum
	return since(t0)
}

// Two producers, two consumers, buffered capacity 1024: ns per value.
func mpmc(n uint64) int64 {
	ch := make(chan int64, 1024)
	var wg sync.WaitGroup
	half := n / 2
	t0 := time.Now()
	for p := 0; p < 2; p++ {
		cnt := half
		if p == 1 {
			cnt = n - half
		}
		go func(cnt uint64) {
			for i := uint64(0); i < cnt; i++ {
				ch <- int64(i)
			}
		}(cnt)
	}
	for c := 0; c < 2; c++ {
		cnt := half
		if c == 1 {
			cnt = n - half
		}
		wg.Add(1)
		go func(cnt uint64) {
			defer wg.Done()
			var sum int64
			for i := uint64(0); i < cnt; i++ {
				sum += <-ch
			}
			atomic.AddInt64(&sink64, sum)
		}(cnt)
	}
	wg.Wait()
	return since(t0)
}

// Unbuffered ping-pong between two goroutines: ns per round trip.
func pingpong(n uint64) int64 {
	ping, pong := make(chan int64), make(chan int64)
	t0 := time.Now()
	go func() {
		for i := uint64(0); i < n; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()
	var v int64
	for i := uint64(0); i < n; i++ {
		ping <- v
		v = <-pong
	}
	sink64 = v
	return since(t0)
}

// A sender selecting over sends on two unbuffered channels and a receiver
// selecting over receives on the same two: ns per value handed over.
func select2(n uint64) int64 {
	a, b := make(chan int64), make(chan int64)
	t0 := time.Now()
	go func() {
		for i := uint64(0); i < n; i++ {
			select {
			case a <- int64(i):
			case b <- int64(i):
			}
		}
	}()
	var sum int64
	for i := uint64(0); i < n; i++ {
		select {
		case v := <-a:
			sum += v
		case v := <-b:
			sum += v
		}
	}
	sink64 = sum
	return since(t0)
}

// A receive with default on an empty channel: ns per select.
func selectDefault(n uint64) int64 {
	ch := make(chan int64, 1)
	misses := 0
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		select {
		case v := <-ch:
			sink64 = v
		default:
			misses++
		}
	}
	t := since(t0)
	sink64 = int64(misses)
	return t
}

// Create 1,000 cancelable children of a cancelable parent, cancel the
// parent, check every child is done, release all: ns per fan-out.
func ctxFanout(n uint64) int64 {
	kids := make([]context.Context, 1000)
	cancels := make([]context.CancelFunc, 1000)
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		parent, cancel := context.WithCancel(context.Background())
		for k := range kids {
			kids[k], cancels[k] = context.WithCancel(parent)
		}
		cancel()
		for k := range kids {
			<-kids[k].Done()
			if kids[k].Err() == nil {
				panic("child not cancelled")
			}
			cancels[k]()
		}
	}
	return since(t0)
}

// Two workers taking jobs from a queue of 1024; ns per empty job, from the
// first submit until shutdown has drained the queue and joined the workers.
func pool(n uint64) int64 {
	var done int64
	job := func() { atomic.AddInt64(&done, 1) }
	t0 := time.Now()
	jobs := make(chan func(), 1024)
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j()
			}
		}()
	}
	for i := uint64(0); i < n; i++ {
		jobs <- job
	}
	close(jobs)
	wg.Wait()
	t := since(t0)
	if uint64(done) != n {
		panic("pool lost jobs")
	}
	return t
}

// errgroup with golang.org/x/sync's semantics, standard library only.
type group struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}
	once   sync.Once
	err    error
}

func newGroup(parent context.Context) (*group, context.Context) {
	ctx, cancel := context.WithCancel(parent)
	return &group{cancel: cancel}, ctx
}

func (g *group) setLimit(n int) { g.sem = make(chan struct{}, n) }

func (g *group) goTask(f func() error) {
	if g.sem != nil {
		g.sem <- struct{}{}
	}
	g.wg.Add(1)
	go func() {
		defer func() {
			if g.sem != nil {
				<-g.sem
			}
			g.wg.Done()
		}()
		if err := f(); err != nil {
			g.once.Do(func() {
				g.err = err
				g.cancel()
			})
		}
	}()
}

func (g *group) wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

// An errgroup limited to 4 running tasks: ns per empty task, go to wait.
func errgroup(n uint64) int64 {
	var ran int64
	t0 := time.Now()
	g, ctx := newGroup(context.Background())
	g.setLimit(4)
	for i := uint64(0); i < n; i++ {
		g.goTask(func() error {
			if ctx.Err() == nil {
				atomic.AddInt64(&ran, 1)
			}
			return nil
		})
	}
	if err := g.wait(); err != nil {
		panic(err)
	}
	t := since(t0)
	if uint64(ran) != n {
		panic("errgroup lost tasks")
	}
	return t
}

var sinkChan chan int64
var sink64 int64

// make(chan) and drop it: ns per channel (the GC reclaims it, off the
// clock only in part: its cost is Go's way of freeing).
func chanNewFree(n uint64) int64 {
	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		sinkChan = make(chan int64)
	}
	return since(t0)
}

var defs = []benchDef{
	{"spsc", spsc, "buffered cap 1024, 1 producer 1 consumer, ns/value"},
	{"mpmc", mpmc, "buffered cap 1024, 2 producers 2 consumers, ns/value"},
	{"pingpong", pingpong, "unbuffered round trip between two threads"},
	{"select2", select2, "2-case send select vs 2-case recv select, ns/value"},
	{"select_default", selectDefault, "recv with default on an empty channel"},
	{"ctx_fanout", ctxFanout, "cancel a parent of 1000 children, ns/fan-out"},
	{"pool", pool, "2 workers, queue 1024, ns per empty job"},
	{"errgroup", errgroup, "limit 4, ns per empty task"},
	{"chan_new_free", chanNewFree, "create and free an unbuffered channel"},
}

func main() {
	args := os.Args[1:]
	if len(args) == 1 && args[0] == "--list" {
		for _, d := range defs {
			fmt.Printf("%-16s %s\n", d.name, d.what)
		}
		return
	}
	if len(args) == 0 {
		for _, d := range defs {
			run(d)
		}
		return
	}
	for _, a := range args {
		found := false
		for _, d := range defs {
			if d.name == a {
				run(d)
				found = true
			}
		}
		if !found {
			fmt.Fprintf(os.Stderr, "bench: unknown benchmark '%s' (--list)\n", a)
			os.Exit(64)
		}
	}
}
