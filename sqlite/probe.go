package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

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
		t := ktx.Docs().(*tx)
		if _, err := t.exec(ctx, probeSQL); err != nil {
			return err
		}
		t.mem.wrote() // no document changes: make the transaction commit all the same
		return nil
	})
	if err != nil {
		return fmt.Errorf("sqlite: write probe: %w", err)
	}
	return s.opened.check(s.path)
}

// fullCheckEvery bounds how many probes may trust the files found open by
// the last full check (with the default 5 s probe, a minute).
const fullCheckEvery = 12

// openFiles remembers the database and WAL files (device and inode) that
// the last full check found open and still at the store's path. While the
// files at the path are those, nothing can have replaced them under the
// store, and a probe costs two stats instead of a readlink of every
// descriptor of the process (with 300 nodes, a thousand: most of
// keyward's CPU at rest went there). A full check still runs every
// fullCheckEvery probes, for a descriptor opened meanwhile on a file
// that was at the path only for a while.
type openFiles struct {
	mu      sync.Mutex
	db, wal os.FileInfo // nil until a full check passed
	trusted int         // probes left before the next full check
}

func (o *openFiles) check(path string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.trusted > 0 && o.db != nil && o.wal != nil && sameAt(o.db, path) && sameAt(o.wal, path+"-wal") {
		o.trusted--
		return nil
	}
	// Stat before the full check: a file replaced in between then fails
	// the check instead of being trusted.
	db, _ := os.Stat(path)
	wal, _ := os.Stat(path + "-wal")
	o.db, o.wal, o.trusted = nil, nil, 0
	if err := checkOpenFiles(path); err != nil {
		return err
	}
	o.db, o.wal, o.trusted = db, wal, fullCheckEvery-1
	return nil
}

// sameAt says whether the file now at name is fi.
func sameAt(fi os.FileInfo, name string) bool {
	now, err := os.Stat(name)
	return err == nil && os.SameFile(fi, now)
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
