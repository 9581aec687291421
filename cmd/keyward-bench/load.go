package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"
	"github.com/aws/smithy-go"
)

// The operations of one lifecycle, in order.
const (
	opCreate = iota
	opDescribe
	opDelete
	nOps
)

var opNames = [nOps]string{"CreateUser", "DescribeUsers", "DeleteUser"}

// callTimeout bounds one API call, so that a stuck server ends the run.
const callTimeout = 30 * time.Second

// latency is the distribution of one operation's successful calls.
type latency struct {
	n             int
	p50, p99, max time.Duration
}

func summarize(d []time.Duration) latency {
	if len(d) == 0 {
		return latency{}
	}
	slices.Sort(d)
	// Nearest rank.
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		return d[max(0, min(i, len(d)-1))]
	}
	return latency{n: len(d), p50: rank(0.50), p99: rank(0.99), max: d[len(d)-1]}
}

// result is one target's figures in one run.
type result struct {
	target     string
	window     time.Duration
	ops        [nOps]latency
	all        latency
	lifecycles int
	errors     int            // failed calls, in every phase of the load
	codes      map[string]int // errors by code
	samples    []string       // the first few error messages

	startup                    time.Duration
	rssStart, rssIdle, rssLoad int64   // KiB
	serverCPU, benchCPU        float64 // CPU seconds per second of the window
	otherCPU                   float64 // every other process's, likewise

	workload string
	// keyward only: time from the end of the load until no benchmark user
	// is listed any more (drained false: not within drainTimeout).
	drain   time.Duration
	drained bool
}

func (r *result) overall() latency { return r.all }

// cpuPerCall is the server's CPU time per successful call, in µs.
func (r *result) cpuPerCall() float64 {
	if r.all.n == 0 {
		return 0
	}
	return r.serverCPU * r.window.Seconds() / float64(r.all.n) * 1e6
}

func (r *result) opsPerSec() float64 { return float64(r.all.n) / r.window.Seconds() }
func (r *result) lifecyclesPerSec() float64 {
	return float64(r.lifecycles) / r.window.Seconds()
}

const drainTimeout = 60 * time.Second

// runTarget starts target, measures its startup and idle RSS, loads it,
// and stops it.
func runTarget(ctx context.Context, cfg *config, target, workload, dir, tag, perfFile string, logf func(string, ...any)) (*result, error) {
	var (
		s   *server
		err error
	)
	switch {
	case cfg.isKeyward(target):
		s, err = startKeyward(ctx, cfg, target, cfg.keywardBin(target), dir)
	case target == targetNoop:
		s, err = startNoop(ctx, cfg, dir)
	case target == targetMoto:
		s, err = startMoto(ctx, cfg, dir)
	}
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res := &result{target: target, workload: workload, startup: s.startup, codes: map[string]int{}}
	res.rssStart = rssKiB(s.pid())
	select {
	case <-time.After(cfg.idleWait):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	res.rssIdle = rssKiB(s.pid())

	httpClient := &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        4 * cfg.clients,
		MaxIdleConnsPerHost: 4 * cfg.clients,
		IdleConnTimeout:     90 * time.Second,
	}}
	defer httpClient.CloseIdleConnections()
	newClient := func() *elasticache.Client {
		return elasticache.New(elasticache.Options{
			BaseEndpoint: aws.String(s.url),
			Region:       "us-east-1",
			Credentials:  credentials.NewStaticCredentialsProvider("AKID", "SECRET", ""),
			Retryer:      aws.NopRetryer{},
			HTTPClient:   httpClient,
		})
	}

	// The describe workload reads users created before the load.
	var ids []string
	if workload == workloadDescribe {
		if ids, err = populate(ctx, newClient(), cfg.populate, tag); err != nil {
			return nil, fmt.Errorf("populate: %w", err)
		}
	}

	// The window's CPU figures, and perf, start and stop with the window.
	var (
		srvCPU0, srvCPU1     float64
		benchCPU0, benchCPU1 float64
		busyCPU0, busyCPU1   float64
		perfCmd              *exec.Cmd
	)
	onWindowStart := func() {
		srvCPU0, benchCPU0, busyCPU0 = cpuSeconds(s.pid()), selfCPUSeconds(), allCPUSeconds()
		if perfFile != "" {
			perfCmd = exec.Command("perf", "record", "-g", "-F", "999", "-p", fmt.Sprint(s.pid()), "-o", perfFile)
			perfCmd.Stdout, perfCmd.Stderr = os.Stderr, os.Stderr
			if err := perfCmd.Start(); err != nil {
				logf("perf: %v", err)
				perfCmd = nil
			}
		}
	}
	onWindowEnd := func() {
		srvCPU1, benchCPU1, busyCPU1 = cpuSeconds(s.pid()), selfCPUSeconds(), allCPUSeconds()
		if perfCmd != nil {
			perfCmd.Process.Signal(os.Interrupt)
			perfCmd.Wait()
			logf("perf: %s profile in %s (perf report -i %s --no-children)", target, perfFile, perfFile)
		}
	}

	windowStart := time.Now().Add(cfg.warmup)
	windowEnd := windowStart.Add(cfg.duration)
	windowDone := make(chan struct{})
	go func() {
		defer close(windowDone)
		select {
		case <-time.After(time.Until(windowStart)):
		case <-ctx.Done():
			return
		}
		onWindowStart()
		select {
		case <-time.After(time.Until(windowEnd)):
		case <-ctx.Done():
		}
		onWindowEnd()
	}()

	errs := &errorLog{codes: res.codes, target: target, logf: logf}
	workers := make([]*worker, cfg.clients)
	var wg sync.WaitGroup
	for i := range workers {
		w := &worker{
			id: i, tag: tag, client: newClient(), errs: errs, describe: ids,
			windowStart: windowStart, windowEnd: windowEnd,
		}
		workers[i] = w
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx)
		}()
	}
	wg.Wait()
	<-windowDone
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	res.rssLoad = rssKiB(s.pid())
	res.window = cfg.duration
	res.serverCPU = (srvCPU1 - srvCPU0) / cfg.duration.Seconds()
	res.benchCPU = (benchCPU1 - benchCPU0) / cfg.duration.Seconds()
	res.otherCPU = max(0, (busyCPU1-busyCPU0)/cfg.duration.Seconds()-res.serverCPU-res.benchCPU)

	var all []time.Duration
	for op := range nOps {
		var d []time.Duration
		for _, w := range workers {
			d = append(d, w.lat[op]...)
		}
		all = append(all, d...)
		res.ops[op] = summarize(d)
	}
	res.all = summarize(all)
	for _, w := range workers {
		res.lifecycles += w.lifecycles
	}
	res.errors, res.samples = errs.n, errs.samples

	if cfg.isKeyward(target) && workload == workloadLifecycle {
		res.drain, res.drained = waitDrain(ctx, newClient(), tag)
		if !res.drained {
			logf("  keyward: benchmark users still listed %s after the load", drainTimeout)
		}
	}
	return res, nil
}

// waitDrain polls DescribeUsers until no user of this run is listed.
func waitDrain(ctx context.Context, c *elasticache.Client, tag string) (time.Duration, bool) {
	t0 := time.Now()
	prefix := "bench-" + tag + "-"
	for time.Since(t0) < drainTimeout && ctx.Err() == nil {
		out, err := c.DescribeUsers(ctx, &elasticache.DescribeUsersInput{MaxRecords: aws.Int32(100)})
		if err == nil {
			left := out.Marker != nil
			for _, u := range out.Users {
				if strings.HasPrefix(aws.ToString(u.UserId), prefix) {
					left = true
					break
				}
			}
			if !left {
				return time.Since(t0), true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return time.Since(t0), false
}

// errorLog counts failed calls by code and keeps the first few messages.
type errorLog struct {
	mu      sync.Mutex
	n       int
	codes   map[string]int
	samples []string
	target  string
	logf    func(string, ...any)
}

const maxSamples = 5

func (e *errorLog) add(op int, id string, err error) {
	code := "transport"
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code = ae.ErrorCode()
	} else if errors.Is(err, context.DeadlineExceeded) {
		code = "timeout"
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.n++
	e.codes[opNames[op]+": "+code]++
	if len(e.samples) < maxSamples {
		msg := fmt.Sprintf("%s %s: %v", opNames[op], id, err)
		e.samples = append(e.samples, msg)
		e.logf("  %s error: %s", e.target, msg)
	}
}

// worker is one client looping lifecycles.
type worker struct {
	id                     int
	tag                    string
	client                 *elasticache.Client
	errs                   *errorLog
	windowStart, windowEnd time.Time

	describe []string // describe workload: the ids to read in turn; nil: lifecycles

	lat        [nOps][]time.Duration
	lifecycles int
}

// populate creates n users for the describe workload and returns their ids.
func populate(ctx context.Context, c *elasticache.Client, n int, tag string) ([]string, error) {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("bench-%s-p%d", tag, i)
		_, err := c.CreateUser(ctx, &elasticache.CreateUserInput{
			UserId:       aws.String(ids[i]),
			UserName:     aws.String(ids[i]),
			Engine:       aws.String("redis"),
			AccessString: aws.String("on ~* +@all"),
			Passwords:    []string{"bench-password-0123456789"},
		})
		if err != nil {
			return nil, err
		}
	}
	return ids, nil
}

func (w *worker) loop(ctx context.Context) {
	if w.describe != nil {
		w.describeLoop(ctx)
		return
	}
	for n := 0; ctx.Err() == nil && time.Now().Before(w.windowEnd); n++ {
		id := fmt.Sprintf("bench-%s-w%d-%d", w.tag, w.id, n)
		ok := w.call(ctx, opCreate, id, func(ctx context.Context) error {
			_, err := w.client.CreateUser(ctx, &elasticache.CreateUserInput{
				UserId:       aws.String(id),
				UserName:     aws.String(id),
				Engine:       aws.String("redis"),
				AccessString: aws.String("on ~* +@all"),
				Passwords:    []string{"bench-password-0123456789"},
			})
			return err
		})
		if !ok {
			continue
		}
		okD := w.call(ctx, opDescribe, id, func(ctx context.Context) error {
			out, err := w.client.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
			if err == nil && (len(out.Users) != 1 || aws.ToString(out.Users[0].UserId) != id) {
				err = fmt.Errorf("DescribeUsers returned %d users, want %s", len(out.Users), id)
			}
			return err
		})
		okX, end := w.callEnd(ctx, opDelete, id, func(ctx context.Context) error {
			_, err := w.client.DeleteUser(ctx, &elasticache.DeleteUserInput{UserId: aws.String(id)})
			return err
		})
		if okD && okX && w.inWindow(end) {
			w.lifecycles++
		}
	}
}

// describeLoop reads the populated users in turn, one DescribeUsers(UserId)
// per call, each worker starting at its own offset.
func (w *worker) describeLoop(ctx context.Context) {
	for n := w.id * 7919; ctx.Err() == nil && time.Now().Before(w.windowEnd); n++ {
		id := w.describe[n%len(w.describe)]
		w.call(ctx, opDescribe, id, func(ctx context.Context) error {
			out, err := w.client.DescribeUsers(ctx, &elasticache.DescribeUsersInput{UserId: aws.String(id)})
			if err == nil && (len(out.Users) != 1 || aws.ToString(out.Users[0].UserId) != id) {
				err = fmt.Errorf("DescribeUsers returned %d users, want %s", len(out.Users), id)
			}
			return err
		})
	}
}

func (w *worker) call(ctx context.Context, op int, id string, f func(context.Context) error) bool {
	ok, _ := w.callEnd(ctx, op, id, f)
	return ok
}

// callEnd runs one call, records its latency if it succeeded and ended
// in the window, and reports whether it succeeded and when it ended.
func (w *worker) callEnd(ctx context.Context, op int, id string, f func(context.Context) error) (bool, time.Time) {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	t0 := time.Now()
	err := f(cctx)
	t1 := time.Now()
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			w.errs.add(op, id, err)
		}
		return false, t1
	}
	if w.inWindow(t1) {
		w.lat[op] = append(w.lat[op], t1.Sub(t0))
	}
	return true, t1
}

func (w *worker) inWindow(t time.Time) bool {
	return !t.Before(w.windowStart) && !t.After(w.windowEnd)
}
