package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward"
	"keyward/internal/cpuperop"
	"keyward/keywardtest"
	"keyward/server"
	"keyward/sigv4"
)

// capture is an SDK transport that records the requests it sends and
// answers them through the server's handler.
type capture struct {
	h    http.Handler
	reqs []*http.Request
	body [][]byte
}

func (c *capture) RoundTrip(r *http.Request) (*http.Response, error) {
	b, _ := io.ReadAll(r.Body)
	c.reqs = append(c.reqs, r)
	c.body = append(c.body, b)
	r2 := r.Clone(r.Context())
	r2.Host = r.URL.Host
	r2.Body = io.NopCloser(bytes.NewReader(b))
	rec := httptest.NewRecorder()
	c.h.ServeHTTP(rec, r2)
	return rec.Result(), nil
}

// sink is a ResponseWriter that keeps nothing but the status.
type sink struct {
	h      http.Header
	status int
	n      int
}

func (s *sink) Header() http.Header         { return s.h }
func (s *sink) Write(b []byte) (int, error) { s.n += len(b); return len(b), nil }
func (s *sink) WriteHeader(code int)        { s.status = code }

// benchDescribeHandler measures the server's handler alone (middleware,
// form, API, store read, XML) on DescribeUsers(UserId) requests as
// aws-sdk-go-v2 sends them, one of 200 users in turn, without net/http's
// connection handling or the client.
func benchDescribeHandler(b *testing.B, signed bool) {
	var opts []func(*server.Config)
	if signed {
		opts = append(opts, func(c *server.Config) {
			c.Credentials = []sigv4.Credential{{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench-secret", AccountID: "123456789012"}}
		})
	}
	ts := keywardtest.New(b, opts...)
	cap := &capture{h: ts.Handler()}
	c := elasticache.New(elasticache.Options{
		BaseEndpoint: aws.String(ts.URL()),
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   &http.Client{Transport: cap},
	})
	const n = 200
	for i := range n {
		if _, err := c.CreateUser(b.Context(), &elasticache.CreateUserInput{
			UserId: aws.String(fmt.Sprintf("u%d", i)), UserName: aws.String(fmt.Sprintf("u%d", i)),
			Engine: aws.String("redis"), AccessString: aws.String("on ~* +@all"), Passwords: []string{"bench-password-0123456789"},
		}); err != nil {
			b.Fatal(err)
		}
	}
	cap.reqs, cap.body = nil, nil
	for i := range n {
		if _, err := c.DescribeUsers(b.Context(), &elasticache.DescribeUsersInput{UserId: aws.String(fmt.Sprintf("u%d", i))}); err != nil {
			b.Fatal(err)
		}
	}
	h := ts.Handler()
	reqs, bodies := cap.reqs, cap.body
	for _, r := range reqs {
		r.Host = r.URL.Host // as a server sees it
	}
	w := &sink{h: http.Header{}}
	body := &bytes.Reader{}
	i := 0
	b.ReportAllocs()
	done := cpuperop.Start(b)
	for b.Loop() {
		r := reqs[i%n]
		body.Reset(bodies[i%n])
		r.Body = io.NopCloser(body)
		r.ContentLength = int64(len(bodies[i%n]))
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, r)
		if w.status != 200 {
			b.Fatalf("status %d", w.status)
		}
		i++
	}
	done()
}

func BenchmarkDescribeUsersHandler(b *testing.B)       { benchDescribeHandler(b, false) }
func BenchmarkDescribeUsersHandlerSigned(b *testing.B) { benchDescribeHandler(b, true) }

// BenchmarkLifecycleHandler measures the server's handler alone on the
// lifecycle (CreateUser → DescribeUsers(UserId) → DeleteUser, unsigned
// forms as the SDK sends them, 8 at a time), until the reconciler has
// removed every deleted user: cpu-µs/op is the process's CPU per lifecycle,
// the reconciler's work included.
func BenchmarkLifecycleHandler(b *testing.B) {
	ts := keywardtest.New(b)
	h := ts.Handler()
	serve := func(form string) {
		r := httptest.NewRequest(http.MethodPost, "http://"+ts.Addr()+"/", strings.NewReader(form))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
		w := &sink{h: http.Header{}}
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("%s: status %d", form, w.status)
		}
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(4) // 8 goroutines on 2 CPUs, as the benchmark's clients
	done := cpuperop.Start(b)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("u%d", seq.Add(1))
			serve(createForm(id))
			serve("Action=DescribeUsers&Version=2015-02-02&UserId=" + id)
			serve("Action=DeleteUser&Version=2015-02-02&UserId=" + id)
		}
	})
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		var n int
		if err := ts.Store.View(b.Context(), func(tx keyward.Tx) (err error) {
			n, err = tx.CountUsers(b.Context(), keyward.DefaultScope)
			return err
		}); err != nil {
			b.Fatal(err)
		}
		if n <= 1 { // the default user
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d users left a minute after the load", n)
		}
	}
	done()
}
