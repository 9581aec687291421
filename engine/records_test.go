package engine

import (
	"encoding/json"
	"testing"
)

// The memcached records embed listenAt: node.json and endpoint.json keep
// the field names earlier keywards wrote, and a record without a host
// listens on 127.0.0.1.
func TestRecordsKeepTheirJSONNames(t *testing.T) {
	var n mcRecord
	if err := json.Unmarshal([]byte(`{"port":11211,"host":"127.10.0.7","pid":42,"backendPort":40001}`), &n); err != nil {
		t.Fatal(err)
	}
	if n.addr() != "127.10.0.7:11211" || n.PID != 42 || n.backend() != "127.10.0.7:40001" {
		t.Fatalf("node record %+v: addr %s, backend %s", n, n.addr(), n.backend())
	}
	var ep epRecord
	if err := json.Unmarshal([]byte(`{"cluster":"mc","port":11211,"tls":true}`), &ep); err != nil {
		t.Fatal(err)
	}
	if ep.addr() != "127.0.0.1:11211" || ep.Cluster != "mc" || !ep.TLS {
		t.Fatalf("endpoint record %+v: addr %s", ep, ep.addr())
	}
	b, _ := json.Marshal(epRecord{Cluster: "mc", listenAt: listenAt{Host: "127.10.0.8", Port: 11211}})
	if string(b) != `{"cluster":"mc","host":"127.10.0.8","port":11211}` {
		t.Fatalf("endpoint.json %s", b)
	}
}
