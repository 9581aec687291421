package serviceupdates

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
)

var nameRE = regexp.MustCompile(`^elasticache-(\d{8})-\d{3}$`)

// Parse reads source.tsv and checks it: names in ElastiCache's form and
// matching their release day, dates in order, known severities and engines.
func Parse(src []byte) ([]Update, error) {
	var out []Update
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		f := strings.Split(text, "\t")
		bad := func(what string) error { return fmt.Errorf("source.tsv:%d: %s", line, what) }
		if len(f) != 12 {
			return nil, bad(fmt.Sprintf("%d columns, want 12", len(f)))
		}
		u := Update{Name: f[0], Severity: f[4], Type: "security-update", Engine: f[5], EngineVersion: f[6],
			AutoUpdate: f[7] == "true", EstimatedTime: f[8], Cancelled: f[9] == "cancelled", Description: f[10], Source: f[11]}
		var err error
		for i, dst := range []*time.Time{&u.Released, &u.RecommendedApplyBy, &u.End} {
			if *dst, err = time.Parse(time.DateOnly, f[1+i]); err != nil {
				return nil, bad(err.Error())
			}
		}
		m := nameRE.FindStringSubmatch(u.Name)
		if m == nil || m[1] != u.Released.Format("20060102") {
			return nil, bad("name " + u.Name + " is not elasticache-<release day>-NNN")
		}
		if seen[u.Name] {
			return nil, bad("duplicate " + u.Name)
		}
		seen[u.Name] = true
		if !u.Released.Before(u.RecommendedApplyBy) || !u.RecommendedApplyBy.Before(u.End) {
			return nil, bad("dates not in order release < recommended < end")
		}
		switch u.Severity {
		case "critical", "important", "medium", "low":
		default:
			return nil, bad("severity " + u.Severity)
		}
		switch u.Engine {
		case "redis", "valkey", "memcached":
		default:
			return nil, bad("engine " + u.Engine)
		}
		if (f[7] != "true" && f[7] != "false") || (f[9] != "-" && f[9] != "cancelled") {
			return nil, bad("auto-update must be true/false, cancelled - or cancelled")
		}
		out = append(out, u)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}
