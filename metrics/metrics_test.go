package metrics

import (
	"strings"
	"testing"
	"time"
)

func TestRegistry(t *testing.T) {
	r := New()
	r.ObserveRequest("CreateUser", 200, "", 2*time.Millisecond)
	r.ObserveRequest("CreateUser", 400, "UserAlreadyExists", 300*time.Microsecond)
	r.Gauge("keyward_reconcile_queue_depth", "Keys waiting.", func() []Sample { return []Sample{{Value: 3}} })
	r.Gauge("keyward_nodes", "Nodes by state.", func() []Sample { return []Sample{{Labels: []string{"state", "running"}, Value: 2}} })
	var b strings.Builder
	r.WriteTo(&b)
	out := b.String()
	for _, want := range []string{
		`keyward_requests_total{action="CreateUser",code="OK"} 1`,
		`keyward_requests_total{action="CreateUser",code="UserAlreadyExists"} 1`,
		`keyward_request_duration_seconds_bucket{action="CreateUser",le="0.0005"} 1`,
		`keyward_request_duration_seconds_bucket{action="CreateUser",le="0.0025"} 2`,
		`keyward_request_duration_seconds_count{action="CreateUser"} 2`,
		"keyward_reconcile_queue_depth 3",
		`keyward_nodes{state="running"} 2`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}
