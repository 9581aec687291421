package sqlite

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The probe trusts the files it found open only while they are still the
// ones at the store's path: a WAL or database file deleted or replaced
// fails the very next probe, not only the next full check.
func TestProbe_ReplacedFiles(t *testing.T) {
	ctx := context.Background()
	for _, victim := range []string{"state.db-wal", "state.db"} {
		t.Run(victim, func(t *testing.T) {
			dir := t.TempDir()
			s := mustOpen(t, filepath.Join(dir, "state.db"))
			for range 3 { // the first is a full check, the others trust it
				if err := s.Probe(ctx); err != nil {
					t.Fatalf("probe of a healthy store: %v", err)
				}
			}
			if s.opened.trusted != fullCheckEvery-3 {
				t.Fatalf("trusted = %d after 3 probes, want %d", s.opened.trusted, fullCheckEvery-3)
			}
			name := filepath.Join(dir, victim)
			data, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			// Replaced: a new file (another inode) at the same name.
			if err := os.Remove(name); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(name, data, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := s.Probe(ctx); err == nil {
				t.Fatalf("probe after %s was replaced passed", victim)
			}
		})
	}
}
