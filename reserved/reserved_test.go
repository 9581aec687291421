package reserved

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestGeneratedUpToDate: offerings_gen.go is what source.tsv derives
// (run `go generate ./reserved` after editing the table).
func TestGeneratedUpToDate(t *testing.T) {
	src, err := os.ReadFile("source.tsv")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Derive(src)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(want, offerings) {
		t.Fatalf("offerings_gen.go differs from what source.tsv derives (%d vs %d offerings); run go generate ./reserved", len(want), len(offerings))
	}
}

func TestCatalogueShape(t *testing.T) {
	types := map[string]int{}
	for _, o := range All() {
		types[o.OfferingType]++
		if o.Duration != OneYear && o.Duration != ThreeYear {
			t.Errorf("%s: duration %d", o.ID, o.Duration)
		}
		if !strings.HasPrefix(o.Source, "documented") && !strings.HasPrefix(o.Source, "derived") {
			t.Errorf("%s: source %q", o.ID, o.Source)
		}
		if len(o.ID) != 36 {
			t.Errorf("id %q", o.ID)
		}
	}
	for _, ty := range []string{"No Upfront", "Partial Upfront", "All Upfront", "Heavy Utilization", "Medium Utilization", "Light Utilization"} {
		if types[ty] == 0 {
			t.Errorf("no %s offering", ty)
		}
	}
	// A documented offering keeps its id and prices.
	o, ok := ByID("737a1dd9-85c9-403b-b4fb-b62cbc1e7353")
	if !ok || o.NodeType != "cache.m3.large" || o.FixedPrice != 673 || o.Duration != ThreeYear || len(o.Recurring) != 1 || o.Recurring[0].Amount != 0.047 {
		t.Errorf("documented m3.large offering = %+v, %v", o, ok)
	}
}

func TestDerivedPrices(t *testing.T) {
	// cache.t3.micro $0.017/h, 1-year: No Upfront 30% off, Partial 33%,
	// All 35%; valkey at 0.8.
	get := func(ty, product string, years string) Offering {
		t.Helper()
		offs, err := Find(Filter{NodeType: "cache.t3.micro", Duration: years, OfferingType: ty, Product: product})
		if err != nil || len(offs) != 1 {
			t.Fatalf("%s %s %s: %d offerings, %v", ty, product, years, len(offs), err)
		}
		return offs[0]
	}
	if o := get("No Upfront", "redis", "1"); o.FixedPrice != 0 || o.Recurring[0].Amount != 0.012 || o.UsagePrice != 0 {
		t.Errorf("No Upfront = %+v", o)
	}
	if o := get("All Upfront", "redis", "31536000"); o.FixedPrice != 96.8 || o.Recurring[0].Amount != 0 {
		t.Errorf("All Upfront = %+v", o) // 0.017 × 0.65 × 8760
	}
	if o := get("Partial Upfront", "memcached", "1"); o.FixedPrice != 49.89 || o.Recurring[0].Amount != 0.006 {
		t.Errorf("Partial Upfront = %+v", o) // 0.017 × 0.67 × 8760 / 2
	}
	if o := get("All Upfront", "valkey", "3"); o.FixedPrice != 142.96 {
		t.Errorf("valkey 3-year All Upfront = %+v", o) // 0.017 × 0.8 × 0.4 × 26280
	}
}

func TestFind(t *testing.T) {
	all, err := Find(Filter{})
	if err != nil || len(all) != len(All()) {
		t.Fatalf("Find() = %d, %v", len(all), err)
	}
	offs, _ := Find(Filter{NodeType: "cache.t4g.micro"})
	if len(offs) != 3*2*3 {
		t.Errorf("cache.t4g.micro: %d offerings, want 18", len(offs))
	}
	offs, _ = Find(Filter{ID: offs[0].ID})
	if len(offs) != 1 {
		t.Errorf("by id: %d", len(offs))
	}
	if offs, _ := Find(Filter{NodeType: "cache.nope"}); len(offs) != 0 {
		t.Errorf("unknown node type: %d", len(offs))
	}
	for in, want := range map[string]int32{"1": OneYear, "3": ThreeYear, "31536000": OneYear, "94608000": ThreeYear, "P1Y": OneYear, "P3Y": ThreeYear} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"2", "0", "-1", "x", "31536001", "P2Y"} {
		if _, err := Find(Filter{Duration: bad}); err == nil {
			t.Errorf("duration %q accepted", bad)
		}
	}
}

func TestDeriveRejectsBadTables(t *testing.T) {
	for _, src := range []string{
		"rate\tcache.x\tabc\tsource\n",
		"bogus\trow\n",
		"discount\t2\tNo Upfront\t0.3\tx\n",
		"offering\tid\tcache.m1.small\t3\tHeavy Utilization\tredis\t1\t0\t-\tx\noffering\tid\tcache.m1.small\t1\tHeavy Utilization\tredis\t1\t0\t-\tx\n",
	} {
		if _, err := Derive([]byte(src)); err == nil {
			t.Errorf("Derive accepted %q", src)
		}
	}
}
