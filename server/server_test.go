package server_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/elasticache"

	"keyward/keywardtest"
	"keyward/server"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestOperationsEndpoints(t *testing.T) {
	ts := keywardtest.New(t)
	if code, body := get(t, ts.URL()+"/healthz"); code != 200 || strings.TrimSpace(body) != "ok" {
		t.Errorf("/healthz = %d %q", code, body)
	}
	if code, _ := get(t, ts.URL()+"/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{})
	ts.Client.DescribeUsers(t.Context(), &elasticache.DescribeUsersInput{UserId: aws.String("nobody")})
	code, body := get(t, ts.URL()+"/metrics")
	for _, want := range []string{
		`keyward_requests_total{action="DescribeUsers",code="OK"} 1`,
		`keyward_requests_total{action="DescribeUsers",code="UserNotFound"} 1`,
		`keyward_request_duration_seconds_count{action="DescribeUsers"} 2`,
		"keyward_reconcile_queue_depth",
		`keyward_nodes{state="running"} 0`,
	} {
		if code != 200 || !strings.Contains(body, want) {
			t.Errorf("/metrics (%d) lacks %q", code, want)
		}
	}
	// The store gone: not ready, while still healthy.
	ts.Store.Close()
	if code, _ := get(t, ts.URL()+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz with a closed store = %d, want 503", code)
	}
}

func TestOpen_RefusesNonLoopbackWithoutCredentials(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		_, err := server.Open(context.Background(), server.Config{Listen: addr, DataDir: t.TempDir(), NoEngine: true})
		if !errors.Is(err, server.ErrInsecureListen) {
			t.Errorf("Open(%s) = %v, want ErrInsecureListen", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0", "[::1]:0"} {
		s, err := server.Open(context.Background(), server.Config{Listen: addr, DataDir: t.TempDir(), NoEngine: true})
		if err != nil {
			if strings.Contains(err.Error(), "cannot assign") || strings.Contains(err.Error(), "address family") {
				continue // no IPv6 loopback here
			}
			t.Errorf("Open(%s) = %v", addr, err)
			continue
		}
		s.Close()
	}
	s, err := server.Open(context.Background(), server.Config{Listen: "0.0.0.0:0", DataDir: t.TempDir(), NoEngine: true, Insecure: true})
	if err != nil {
		t.Errorf("Open with --insecure: %v", err)
	} else {
		s.Close()
	}
}
