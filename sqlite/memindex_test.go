package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"keyward"
	"keyward/storetest"

	"github.com/google/go-cmp/cmp"
)

// TestOpen_MigrateFrom0003 opens a database at migration 0003, whose
// index fields and references are rows of doc_index and doc_refs: after
// 0004 the documents are found by their fields, with their references and
// referrers, and both survive a write and a reopen.
func TestOpen_MigrateFrom0003(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(t.Context(), q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)`)
	for _, name := range []string{"0001_init.sql", "0002_caches.sql", "0003_documents.sql"} {
		buf, err := fs.ReadFile(migrationFS, "migration/"+name)
		if err != nil {
			t.Fatal(err)
		}
		exec(string(buf))
		exec(`INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, formatTime(time.Now()))
	}
	sc := storetest.S1
	for _, w := range []struct{ id, color, size string }{{"w1", "red", "s"}, {"w2", "red", "l"}, {"w3", "blue", "s"}} {
		exec(`INSERT INTO docs (kind, account, region, id, body, settled) VALUES ('widget', ?, ?, ?, ?, 1)`,
			sc.Account, sc.Region, w.id, `{"id":"`+w.id+`"}`)
		for _, f := range [][2]string{{"color", w.color}, {"size", w.size}} {
			exec(`INSERT INTO doc_index (kind, account, region, field, value, id) VALUES ('widget', ?, ?, ?, ?, ?)`,
				sc.Account, sc.Region, f[0], f[1], w.id)
		}
	}
	exec(`INSERT INTO docs (kind, account, region, id, body, settled) VALUES ('box', ?, ?, 'b1', '{}', 0)`, sc.Account, sc.Region)
	exec(`INSERT INTO doc_refs (account, region, from_kind, from_id, relation, to_kind, to_id, restrict_delete)
		VALUES (?, ?, 'box', 'b1', 'holds', 'widget', 'w1', 1), (?, ?, 'box', 'b1', 'holds', 'widget', 'w3', 0)`,
		sc.Account, sc.Region, sc.Account, sc.Region)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	ctx := t.Context()
	find := func(s *Store, where ...keyward.Field) (ids []string) {
		t.Helper()
		if err := s.View(ctx, func(tx keyward.Tx) error {
			ds, err := tx.Docs().ListDocs(ctx, keyward.DocQuery{Kind: "widget", Scope: sc, Where: where})
			for _, d := range ds {
				ids = append(ids, d.ID)
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	red, small := keyward.Field{Name: "color", Value: "red"}, keyward.Field{Name: "size", Value: "s"}
	s := mustOpen(t, path)
	for _, c := range []struct {
		where []keyward.Field
		want  []string
	}{{[]keyward.Field{red}, []string{"w1", "w2"}}, {[]keyward.Field{small}, []string{"w1", "w3"}}, {[]keyward.Field{red, small}, []string{"w1"}}} {
		if d := cmp.Diff(c.want, find(s, c.where...)); d != "" {
			t.Errorf("widgets where %v (-want +got):\n%s", c.where, d)
		}
	}
	if err := s.View(ctx, func(tx keyward.Tx) error {
		b, err := tx.Docs().GetDoc(ctx, "box", sc, "b1")
		if err != nil {
			return err
		}
		want := []keyward.Ref{{Relation: "holds", Kind: "widget", ID: "w1", Restrict: true}, {Relation: "holds", Kind: "widget", ID: "w3"}}
		if d := cmp.Diff(want, b.Refs); d != "" {
			t.Errorf("b1 refs (-want +got):\n%s", d)
		}
		w, err := tx.Docs().GetDoc(ctx, "widget", sc, "w1")
		if err != nil {
			return err
		}
		if d := cmp.Diff([]keyward.Ref{{Relation: "holds", Kind: "box", ID: "b1", Restrict: true}}, w.Referrers); d != "" {
			t.Errorf("w1 referrers (-want +got):\n%s", d)
		}
		unsettled, err := tx.Docs().FindUnsettled(ctx)
		if d := cmp.Diff([]keyward.DocKey{{Kind: "box", Scope: sc, ID: "b1"}}, unsettled); d != "" {
			t.Errorf("unsettled (-want +got):\n%s", d)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	// The migrated reference still restricts; w2 changes colour.
	if err := s.Update(ctx, func(tx keyward.Tx) error {
		err := tx.Docs().DeleteDoc(ctx, "widget", sc, "w1")
		if keyward.ErrorCode(err) != keyward.EREFERENCED {
			t.Errorf("delete w1, held by b1: %v, want EREFERENCED", err)
		}
		return tx.Docs().UpdateDoc(ctx, &keyward.Doc{Kind: "widget", Scope: sc, ID: "w2", Body: []byte(`{}`), Settled: true,
			Index: []keyward.Field{{Name: "color", Value: "blue"}, {Name: "size", Value: "l"}}})
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = mustOpen(t, path)
	if d := cmp.Diff([]string{"w1"}, find(s, red)); d != "" {
		t.Errorf("red widgets after reopen (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"w2", "w3"}, find(s, keyward.Field{Name: "color", Value: "blue"})); d != "" {
		t.Errorf("blue widgets after reopen (-want +got):\n%s", d)
	}
}

// TestUpdate_GroupCommitFailedLeavesNothing: an Update of a shared
// commit that fails is rolled back to its savepoint, in the database and
// in memory: none of its documents, bodies, index fields or references
// stays, neither at the committed version nor as an entry kept for
// older Views, while the others' writes are committed.
func TestUpdate_GroupCommitFailedLeavesNothing(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := t.Context()
	sc := storetest.S1
	doc := func(id, color string, refs ...keyward.Ref) *keyward.Doc {
		return &keyward.Doc{Kind: "widget", Scope: sc, ID: id, Body: []byte(`{"color":"` + color + `"}`), Settled: true,
			Index: []keyward.Field{{Name: "color", Value: color}}, Refs: refs}
	}
	if err := s.Update(ctx, func(tx keyward.Tx) error { return tx.Docs().InsertDoc(ctx, doc("base", "grey")) }); err != nil {
		t.Fatal(err)
	}
	release := blockUpdates(t, s)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	wg.Go(func() {
		errs[0] = s.Update(ctx, func(tx keyward.Tx) error { return tx.Docs().InsertDoc(ctx, doc("ok1", "green")) })
	})
	wg.Go(func() {
		errs[1] = s.Update(ctx, func(tx keyward.Tx) error {
			ref := keyward.Ref{Relation: "next", Kind: "widget", ID: "base", Restrict: true}
			if err := tx.Docs().InsertDoc(ctx, doc("failed", "purple", ref)); err != nil {
				return err
			}
			if err := tx.Docs().UpdateDoc(ctx, doc("base", "pink")); err != nil {
				return err
			}
			return errBoom
		})
	})
	wg.Go(func() {
		errs[2] = s.Update(ctx, func(tx keyward.Tx) error { return tx.Docs().InsertDoc(ctx, doc("ok2", "green")) })
	})
	release()
	wg.Wait()
	if errs[0] != nil || !errors.Is(errs[1], errBoom) || errs[2] != nil {
		t.Fatalf("outcomes %v, want nil, boom, nil", errs)
	}
	if n := s.batched.Load(); n < 3 {
		t.Fatalf("%d Updates ran in a shared transaction, want the 3", n)
	}
	// No View pins an old version now: every ended entry is forgotten.
	m := s.mem
	m.mu.RLock()
	defer m.mu.RUnlock()
	if dv := m.docs[docKey{"widget", sc.Account, sc.Region, "failed"}]; dv != nil {
		t.Errorf("the failed Update's document is in memory: %+v", dv)
	}
	if m.meta[docKey{"widget", sc.Account, sc.Region, "failed"}] != nil {
		t.Error("the failed Update's document is in the writer's records")
	}
	if ids := m.ids[kindScope{"widget", sc.Account, sc.Region}]; ids != nil && ids.Has("failed") {
		t.Error("the failed Update's id is in memory")
	}
	for _, color := range []string{"purple", "pink"} {
		if set := m.fields[fieldKey{"widget", "color", color}]; set != nil {
			t.Errorf("index entries of the failed Update for color %s: %v", color, set)
		}
	}
	if refs := m.referrers[refTarget{sc.Account, sc.Region, "widget", "base"}]; refs != nil {
		t.Errorf("references of the failed Update: %v", refs)
	}
	base := m.docs[docKey{"widget", sc.Account, sc.Region, "base"}]
	if len(base) != 1 || string(base[0].meta.body) != `{"color":"grey"}` || base[0].to != never {
		t.Errorf("base in memory: %d versions, first %+v, want its one first version", len(base), base[0])
	}
	greens := m.fields[fieldKey{"widget", "color", "green"}]
	if len(greens) != 2 {
		t.Errorf("green widgets in the index: %v, want ok1 and ok2", greens)
	}
	if len(m.retired) != 0 || len(m.undo) != 0 {
		t.Errorf("%d retired entries and %d undo steps left", len(m.retired), len(m.undo))
	}
	var ids []string
	for k := range m.docs {
		if k.kind == "widget" {
			ids = append(ids, k.id)
		}
	}
	slices.Sort(ids)
	if d := cmp.Diff([]string{"base", "ok1", "ok2"}, ids); d != "" {
		t.Errorf("widgets in memory (-want +got):\n%s", d)
	}
	// The database agrees.
	var n int
	if err := s.writer.QueryRowContext(context.Background(), `SELECT COUNT(*) FROM docs WHERE kind = 'widget' AND (id = 'failed' OR body LIKE '%pink%')`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d rows of the failed Update in docs, %v", n, err)
	}
}

// TestUpdate_NothingWrittenKeepsIndex: an Update that writes nothing, or
// whose writes all roll back, ends without a commit, so the WAL-index
// change counter stays where the index expects it and the next View does
// not take it for another connection's commit (which would rebuild the
// index from the database).
func TestUpdate_NothingWrittenKeepsIndex(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	put := func(id string) func(keyward.Tx) error {
		return func(tx keyward.Tx) error {
			return tx.Docs().InsertDoc(ctx, &keyward.Doc{Kind: "thing", Scope: keyward.DefaultScope, ID: id, Body: []byte(`{}`), Settled: true})
		}
	}
	if err := s.Update(ctx, put("a")); err != nil {
		t.Fatal(err)
	}
	base := s.mem.base
	errNo := errors.New("no")
	for _, fn := range []func(keyward.Tx) error{
		func(keyward.Tx) error { return nil },
		func(tx keyward.Tx) error { put("b")(tx); return errNo },
		func(keyward.Tx) error { return nil },
	} {
		if err := s.Update(ctx, fn); err != nil && !errors.Is(err, errNo) {
			t.Fatal(err)
		}
		if err := s.View(ctx, func(keyward.Tx) error { return nil }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx, put("c")); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx, func(keyward.Tx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if s.mem.base != base {
		t.Errorf("the index was rebuilt (base %d, was %d): an Update that wrote nothing moved it off SQLite's change counter", s.mem.base, base)
	}
}
