package keywardtest

import (
	"fmt"
	"strings"
	"testing"
)

func TestLogTail_KeepsTheLastLines(t *testing.T) {
	var l logTail
	for i := range logTailLines + 5 {
		fmt.Fprintf(&l, "line %d\n", i)
	}
	got := strings.Split(strings.TrimSuffix(l.String(), "\n"), "\n")
	if len(got) != logTailLines+1 || !strings.HasPrefix(got[0], "…") || got[1] != "line 5" || got[len(got)-1] != fmt.Sprintf("line %d", logTailLines+4) {
		t.Fatalf("kept %d lines: first %q, %q, last %q", len(got), got[0], got[1], got[len(got)-1])
	}
	var short logTail
	fmt.Fprint(&short, "a\nb\n")
	if s := short.String(); s != "a\nb\n" {
		t.Fatalf("short log %q", s)
	}
}
