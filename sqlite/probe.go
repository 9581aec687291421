package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"keyward"
)

// applicationID marks the database file as keyward's ("KEYW"). The write
// probe sets it: an idempotent write that still commits a WAL frame.
const applicationID = 0x4b455957

var probeSQL = fmt.Sprintf("PRAGMA application_id = %d", applicationID)

// Probe shows that the store still durably writes, for readiness: it
// commits a one-page write through the writer connection (so a WAL or
// database file that can no longer be written fails it), then checks that
// the database and WAL files this process has open are still the ones at
// the store's path. A deleted or replaced WAL keeps taking writes, which
// are lost at the next start; only comparing the open file with the one on
// disk shows it.
func (s *Store) Probe(ctx context.Context) error {
	select {
	case <-s.closing:
		return errClosed
	default:
	}
	// Through the commit loop, which holds the writer connection: the
	// probe is a durable Update like any other.
	err := s.Update(ctx, func(ktx keyward.Tx) error {
		_, err := ktx.Docs().(*tx).exec(ctx, probeSQL)
		return err
	})
	if err != nil {
		return fmt.Errorf("sqlite: write probe: %w", err)
	}
	return checkOpenFiles(s.path)
}

// checkOpenFiles compares, through /proc/self/fd (Linux), every open
// descriptor of the database file or its WAL with the file now at that
// path. Where /proc is not available it checks nothing.
func checkOpenFiles(path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil
	}
	if dir, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		abs = filepath.Join(dir, filepath.Base(abs))
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	for _, fd := range fds {
		link := "/proc/self/fd/" + fd.Name()
		target, err := os.Readlink(link)
		if err != nil {
			continue
		}
		name := strings.TrimSuffix(target, " (deleted)")
		if name != abs && name != abs+"-wal" {
			continue
		}
		open, err := os.Stat(link) // the open file itself, deleted or not
		if err != nil {
			continue
		}
		onDisk, err := os.Stat(name)
		if err != nil || !os.SameFile(open, onDisk) {
			return fmt.Errorf("sqlite: %s was deleted or replaced while open: acknowledged writes would be lost; restart keyward", name)
		}
	}
	return nil
}
