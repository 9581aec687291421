package serviceupdates

import (
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGeneratedUpToDate(t *testing.T) {
	src, err := os.ReadFile("source.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Parse(src)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, updates) {
		t.Fatal("updates_gen.go differs from source.tsv; run go generate ./serviceupdates")
	}
}

func TestStatusesOverTime(t *testing.T) {
	u, ok := ByName("elasticache-20260115-001")
	if !ok {
		t.Fatal("missing elasticache-20260115-001")
	}
	for _, c := range []struct {
		at       string
		released bool
		status   string
	}{
		{"2026-01-14", false, StatusAvailable},
		{"2026-01-15", true, StatusAvailable},
		{"2026-06-14", true, StatusAvailable},
		{"2026-06-15", true, StatusExpired},
	} {
		now, _ := time.Parse(time.DateOnly, c.at)
		if u.ReleasedAt(now) != c.released || u.StatusAt(now) != c.status {
			t.Errorf("%s: released %v status %s", c.at, u.ReleasedAt(now), u.StatusAt(now))
		}
	}
	c, _ := ByName("elasticache-20261020-001")
	if c.StatusAt(c.Released) != StatusCancelled {
		t.Errorf("cancelled update is %s", c.StatusAt(c.Released))
	}
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	avail := At(now, StatusAvailable)
	if len(avail) == 0 || len(At(now, StatusExpired)) == 0 || len(At(now, StatusCancelled)) != 1 {
		t.Errorf("at %v: %d available, %d expired, %d cancelled", now, len(avail), len(At(now, StatusExpired)), len(At(now, StatusCancelled)))
	}
	if len(At(now)) != len(avail)+len(At(now, StatusExpired))+len(At(now, StatusCancelled)) {
		t.Error("At() is not the union of the statuses")
	}
	if got := At(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)); len(got) != 0 {
		t.Errorf("%d updates before the first release", len(got))
	}
}

func TestAppliesTo(t *testing.T) {
	u, _ := ByName("elasticache-20260815-003") // redis 7.0
	for v, want := range map[string]bool{"7.0": true, "7.0.15": true, "7.1": false, "7.01": false, "6.2.6": false} {
		if u.AppliesTo("redis", v) != want {
			t.Errorf("AppliesTo(redis, %s) = %v", v, !want)
		}
	}
	if u.AppliesTo("valkey", "7.0") {
		t.Error("applies to another engine")
	}
	// Every engine version keyward runs has an update.
	for _, ev := range [][2]string{{"redis", "7.0"}, {"valkey", "7.2"}, {"redis", "6.2"}, {"memcached", "1.6.22"}} {
		n := 0
		for _, u := range All() {
			if u.AppliesTo(ev[0], ev[1]) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("no update for %s %s", ev[0], ev[1])
		}
	}
}

func TestParseRejects(t *testing.T) {
	line := "elasticache-20260115-001\t2026-01-15\t2026-03-16\t2026-06-15\timportant\tredis\t7.0\ttrue\t15 minutes\t-\td\ts\n"
	if _, err := Parse([]byte(line)); err != nil {
		t.Fatalf("good line: %v", err)
	}
	for _, bad := range []string{
		strings.Replace(line, "elasticache-20260115", "elasticache-20260116", 1), // name/date mismatch
		strings.Replace(line, "2026-03-16", "2026-07-16", 1),                     // recommended after end
		strings.Replace(line, "important", "urgent", 1),
		strings.Replace(line, "\tredis\t", "\tmysql\t", 1),
		line + line, // duplicate
		"a\tb\n",
	} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
