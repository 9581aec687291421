package sqlite

import (
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var paramNumber = regexp.MustCompile(`\?(\d+)`)

// TestQueryPlans: no prepared statement reads doc_refs by its scope alone
// (every reference of the account and region) where it means the
// references of one document, and a lookup by index field in a scope
// seeks the documents the index names instead of testing every document
// of the kind. Without statistics SQLite's planner took the
// primary key's (account, region) prefix over doc_refs_to for the
// references to a document, so each read and delete scanned the scope.
func TestQueryPlans(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	args := make([]any, 32)
	for i := range args {
		args[i] = "x"
	}
	for _, q := range allQueries() {
		if strings.HasPrefix(q, "SAVEPOINT") || strings.HasPrefix(q, "RELEASE") || strings.HasPrefix(q, "ROLLBACK") {
			continue
		}
		n := params(q)
		rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, args[:n]...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		for rows.Next() {
			var id, parent, notUsed int
			var detail string
			if err := rows.Scan(&id, &parent, &notUsed, &detail); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(detail, "(account=? AND region=?)") || strings.HasPrefix(detail, "SCAN doc_refs") || strings.HasPrefix(detail, "SCAN r") ||
				strings.Contains(q, "d.id IN (SELECT i.id") && strings.Contains(detail, "USING PRIMARY KEY (kind=? AND account=? AND region=?)") {
				t.Errorf("%s\n  plan: %s", q, detail)
			}
		}
		rows.Close()
	}
}

// params returns how many arguments q takes: its highest ?N, or its ?s.
func params(q string) int {
	n := 0
	for _, m := range paramNumber.FindAllStringSubmatch(q, -1) {
		k, _ := strconv.Atoi(m[1])
		n = max(n, k)
	}
	if n == 0 {
		n = strings.Count(q, "?")
	}
	return n
}
