package keyward

import (
	"slices"
	"strings"
	"testing"
)

func TestReshardSlots(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current []string
		keep    []bool
		want    []string
		moved   int
	}{
		{"2 to 3", []string{"0-8191", "8192-16383", ""}, []bool{true, true, true},
			[]string{"0-5461", "8192-13652", "5462-8191,13653-16383"}, 5461},
		{"3 to 2 without the first", []string{"0-5461", "5462-10922", "10923-16383"}, []bool{false, true, true},
			[]string{"", "0-2730,5462-10922", "2731-5461,10923-16383"}, 5462},
		{"1 to 2", []string{"0-16383", ""}, []bool{true, true}, []string{"0-8191", "8192-16383"}, 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReshardSlots(tc.current, tc.keep)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("ReshardSlots = %q, want %q", got, tc.want)
			}
			var kept []string
			for i, s := range got {
				if tc.keep[i] {
					kept = append(kept, s)
				} else if s != "" {
					t.Fatalf("a removed shard keeps slots %q", s)
				}
			}
			if err := CheckSlots(kept); err != nil {
				t.Fatal(err)
			}
			moved := 0
			for i := range got {
				was, _ := SlotList(tc.current[i])
				now, _ := SlotList(got[i])
				for _, s := range now {
					if _, ok := slices.BinarySearch(was, s); !ok {
						moved++
					}
				}
			}
			if moved != tc.moved {
				t.Fatalf("%d slots move, want %d (the fewest)", moved, tc.moved)
			}
		})
	}
	if _, err := ReshardSlots([]string{"0-16383"}, []bool{false}); ErrorCode(err) != EINVALID {
		t.Fatalf("removing every shard: %v", err)
	}
}

func TestFormatSlots(t *testing.T) {
	if got := FormatSlots([]int{0, 1, 2, 5, 7, 8}); got != "0-2,5,7-8" {
		t.Fatalf("FormatSlots = %q", got)
	}
	s, err := SlotList("0-2,5,7-8")
	if err != nil || !slices.Equal(s, []int{0, 1, 2, 5, 7, 8}) {
		t.Fatalf("SlotList = %v, %v", s, err)
	}
}

func TestFailoverEvents(t *testing.T) {
	old := &Cache{Kind: KindReplicationGroup, ID: "rg", ClusterMode: true, Nodes: []CacheNode{
		{ClusterID: "rg-0001-001", Role: "primary"}, {ClusterID: "rg-0001-002", Role: "replica"},
		{ClusterID: "rg-0002-001", Role: "primary", Shard: 1}, {ClusterID: "rg-0002-002", Role: "replica", Shard: 1},
	}}
	cur := old.Clone()
	cur.Nodes[2].Role, cur.Nodes[3].Role = "replica", "primary"
	var msgs []string
	for _, e := range failoverEvents(old, cur) {
		msgs = append(msgs, string(e.SourceType)+" "+e.SourceID+": "+e.Message)
	}
	want := []string{
		"cache-cluster rg-0002-002: Failover from primary node rg-0002-001 to replica node rg-0002-002 completed",
		"replication-group rg: Failover from primary node rg-0002-001 to replica node rg-0002-002 completed",
		"cache-cluster rg-0002-001: Recovering cache nodes 0001",
		"cache-cluster rg-0002-001: Finished recovery for cache nodes 0001",
	}
	if !slices.Equal(msgs, want) {
		t.Fatalf("events:\n%s\nwant:\n%s", strings.Join(msgs, "\n"), strings.Join(want, "\n"))
	}
	if es := failoverEvents(cur, cur); len(es) != 0 {
		t.Fatalf("no change made %d events", len(es))
	}
}
