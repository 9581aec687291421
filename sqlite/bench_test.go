package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"keyward"
	"keyward/internal/cpuperop"
)

// The per-call costs of the API's hot paths, without HTTP: go test -bench . ./sqlite/

func benchUser(sc keyward.Scope, id string) *keyward.User {
	now := time.Now().UTC()
	return &keyward.User{Scope: sc, ID: id, Name: id, Engine: keyward.EngineRedis, AccessString: "on ~* +@all",
		Auth: keyward.AuthPassword, PasswordHashes: keyward.HashPasswords([]string{"bench-password-0123456789"}),
		MinimumEngineVersion: "6.0", Status: keyward.UserActive, StatusSince: now, Generation: 1, CreatedAt: now}
}

func BenchmarkView_FindUser(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	const n = 200
	for i := range n {
		if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUser(ctx, benchUser(sc, fmt.Sprintf("u%d", i))) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuperop.Start(b)()
	for i := 0; b.Loop(); i++ {
		err := s.View(ctx, func(tx keyward.Tx) error {
			us, err := tx.FindUsers(ctx, sc, keyward.UserFilter{ID: fmt.Sprintf("u%d", i%n), Limit: 101})
			if err == nil && len(us) != 1 {
				err = fmt.Errorf("%d users", len(us))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkView_FindUserInGroups is BenchmarkView_FindUser in a scope
// whose users are members of groups: 400 references, 2 to each user.
func BenchmarkView_FindUserInGroups(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	const n = 200
	for i := range n {
		if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUser(ctx, benchUser(sc, fmt.Sprintf("u%d", i))) }); err != nil {
			b.Fatal(err)
		}
	}
	now := time.Now().UTC()
	for g := range n / 2 {
		var members []string
		for j := range 4 {
			members = append(members, fmt.Sprintf("u%d", (4*g+j)%n))
		}
		ug := &keyward.UserGroup{Scope: sc, ID: fmt.Sprintf("g%d", g), Engine: keyward.EngineRedis, Status: keyward.UserGroupActive,
			StatusSince: now, Generation: 1, CreatedAt: now, UserIDs: members}
		if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.CreateUserGroup(ctx, ug) }); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuperop.Start(b)()
	for i := 0; b.Loop(); i++ {
		err := s.View(ctx, func(tx keyward.Tx) error {
			us, err := tx.FindUsers(ctx, sc, keyward.UserFilter{ID: fmt.Sprintf("u%d", i%n), Limit: 101})
			if err == nil && (len(us) != 1 || len(us[0].GroupIDs) != 2) {
				err = fmt.Errorf("%d users", len(us))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUpdate_CreateDeleteUser(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	var seq atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuperop.Start(b)()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			id := fmt.Sprintf("u%d", seq.Add(1))
			err := s.Update(ctx, func(tx keyward.Tx) error {
				if _, err := tx.CountUsers(ctx, sc); err != nil {
					return err
				}
				return tx.CreateUser(ctx, benchUser(sc, id))
			})
			if err == nil {
				err = s.Update(ctx, func(tx keyward.Tx) error {
					u, err := tx.FindUserByID(ctx, sc, id)
					if err != nil {
						return err
					}
					u.Status = keyward.UserDeleting
					return tx.UpdateUser(ctx, u)
				})
			}
			if err == nil {
				err = s.Update(ctx, func(tx keyward.Tx) error { return tx.DeleteUser(ctx, sc, id) })
			}
			if err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkView_ListDocsByField reads, in a View, the 100 documents of
// 1000 that one index field selects, with their references.
func BenchmarkView_ListDocsByField(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	const n, colors = 1000, 10
	err := s.Update(ctx, func(tx keyward.Tx) error {
		for i := range n {
			d := &keyward.Doc{Kind: "widget", Scope: sc, ID: fmt.Sprintf("w%04d", i), Body: []byte(fmt.Sprintf(`{"id":"w%04d","size":%d}`, i, i)),
				Settled: true, Index: []keyward.Field{{Name: "color", Value: fmt.Sprint(i % colors)}, {Name: "size", Value: fmt.Sprint(i)}}}
			if err := tx.Docs().InsertDoc(ctx, d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuperop.Start(b)()
	for i := 0; b.Loop(); i++ {
		err := s.View(ctx, func(tx keyward.Tx) error {
			ds, err := tx.Docs().ListDocs(ctx, keyward.DocQuery{Kind: "widget", Scope: sc, Where: []keyward.Field{{Name: "color", Value: fmt.Sprint(i % colors)}}})
			if err == nil && len(ds) != n/colors {
				err = fmt.Errorf("%d documents", len(ds))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStore_Memory10kUsers reports the memory a Store holding 10,000
// users takes once opened: the Go heap in use after a GC (heap-MiB) and
// the process's resident set (rss-MiB, the test binary's included).
func BenchmarkStore_Memory10kUsers(b *testing.B) {
	path := filepath.Join(b.TempDir(), "state.db")
	ctx := context.Background()
	// Open and Close, not mustOpen: a store kept for Cleanup would count.
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	sc := keyward.DefaultScope
	const n, perUpdate = 10000, 500
	for i := 0; i < n; i += perUpdate {
		if err := s.Update(ctx, func(tx keyward.Tx) error {
			for j := i; j < i+perUpdate; j++ {
				if err := tx.CreateUser(ctx, benchUser(sc, fmt.Sprintf("u%05d", j))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		s, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
		b.ReportMetric(float64(rssBytes())/(1<<20), "rss-MiB")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// rssBytes is the process's resident set size, from /proc/self/statm.
func rssBytes() int64 {
	buf, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident int64
	fmt.Sscan(string(buf), &size, &resident)
	return resident * int64(os.Getpagesize())
}

// BenchmarkUpdate_RecordEvent records one event per Update into a log
// that already holds 200,000 (a busy region's 14 days): an event's id
// sorts before every other, so what the index pays per insert must not
// grow with the log.
func BenchmarkUpdate_RecordEvent(b *testing.B) {
	s := mustOpen(b, filepath.Join(b.TempDir(), "state.db"))
	ctx := context.Background()
	sc := keyward.DefaultScope
	old := time.Now().Add(-time.Hour)
	for batch := 0; batch < 40; batch++ {
		err := s.Update(ctx, func(tx keyward.Tx) error {
			es := make([]*keyward.Event, 5000)
			for i := range es {
				es[i] = &keyward.Event{Scope: sc, SourceType: keyward.SourceUser, SourceID: fmt.Sprintf("u%d", i),
					Message: "User u has been created", Date: old.Add(time.Duration(batch*5000+i) * time.Millisecond)}
			}
			return tx.RecordEvent(ctx, es...)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	defer cpuperop.Start(b)()
	for i := 0; i < b.N; i++ {
		err := s.Update(ctx, func(tx keyward.Tx) error {
			return tx.RecordEvent(ctx, &keyward.Event{Scope: sc, SourceType: keyward.SourceUser, SourceID: "bench", Message: "User bench has been created"})
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDurableAppend is the floor under any durable write path on this
// machine, without SQLite: what one commit of a small Update costs when it
// is three 4 KiB pages appended to a log that is then flushed with
// fdatasync, as a WAL commit is (a 24-byte frame header and a page per
// pwrite, overwriting a preallocated file, so no size change makes the
// flush journal metadata). Compare its cpu-µs/op with
// BenchmarkUpdate_CreateDeleteUser's per Update.
func BenchmarkDurableAppend(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "log"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	const frame, frames, span = 24 + 4096, 3, 1024
	if _, err := f.WriteAt(make([]byte, frame*frames*span), 0); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	page := make([]byte, 4096)
	b.ResetTimer()
	defer cpuperop.Start(b)()
	for i := 0; b.Loop(); i++ {
		off := int64(i%span) * frame * frames
		for j := range int64(frames) {
			if _, err := f.WriteAt(page[:24], off+j*frame); err != nil {
				b.Fatal(err)
			}
			if _, err := f.WriteAt(page, off+j*frame+24); err != nil {
				b.Fatal(err)
			}
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			b.Fatal(err)
		}
	}
}
