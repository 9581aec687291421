package sqlite

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"keyward"
	"keyward/storetest"
)

// TestUpdateIndex checks that an update replaces exactly the index fields
// that changed (the fields column and the in-memory index), for a user's
// two fields and for a document with five, of which one changes and one
// goes, and that filters see the new values only.
func TestUpdateIndex(t *testing.T) {
	s := mustOpen(t, filepath.Join(t.TempDir(), "state.db"))
	ctx := context.Background()
	sc := storetest.S1
	find := func(f keyward.UserFilter) (ids []string) {
		t.Helper()
		err := s.View(ctx, func(tx keyward.Tx) error {
			us, err := tx.FindUsers(ctx, sc, f)
			for _, u := range us {
				ids = append(ids, u.ID)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	update := func(fn func(tx keyward.Tx) error) {
		t.Helper()
		if err := s.Update(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	u := storetest.NewUser(sc, "u1")
	u.Name, u.Engine = "a", keyward.EngineRedis
	update(func(tx keyward.Tx) error { return tx.CreateUser(ctx, u) })
	for _, step := range []struct {
		name   string
		engine keyward.Engine
	}{{"b", keyward.EngineValkey}, {"b", keyward.EngineValkey}, {"a", keyward.EngineValkey}, {"a", keyward.EngineRedis}} {
		u.Name, u.Engine = step.name, step.engine
		update(func(tx keyward.Tx) error { return tx.UpdateUser(ctx, u) })
		for _, c := range []struct {
			f    keyward.UserFilter
			want bool
		}{
			{keyward.UserFilter{Name: "a"}, step.name == "a"},
			{keyward.UserFilter{Name: "b"}, step.name == "b"},
			{keyward.UserFilter{Engine: keyward.EngineRedis}, step.engine == keyward.EngineRedis},
			{keyward.UserFilter{Engine: keyward.EngineValkey}, step.engine == keyward.EngineValkey},
		} {
			if got := slices.Equal(find(c.f), []string{"u1"}); got != c.want {
				t.Errorf("after update to %s/%s: filter %+v finds u1: %v, want %v", step.name, step.engine, c.f, got, c.want)
			}
		}
	}

	// A document with five fields: one changes, one goes.
	fields := func(vs ...string) (fs []keyward.Field) {
		for i, v := range vs {
			fs = append(fs, keyward.Field{Name: string(rune('a' + i)), Value: v})
		}
		return fs
	}
	d := &keyward.Doc{Kind: "widget", Scope: sc, ID: "w1", Body: []byte(`{}`), Settled: true, Index: fields("1", "2", "3", "4", "5")}
	update(func(tx keyward.Tx) error { return tx.Docs().InsertDoc(ctx, d) })
	d.Index = fields("1", "x", "3", "4")
	update(func(tx keyward.Tx) error { return tx.Docs().UpdateDoc(ctx, d) })
	for _, c := range []struct {
		where keyward.Field
		want  int
	}{{keyward.Field{Name: "a", Value: "1"}, 1}, {keyward.Field{Name: "b", Value: "2"}, 0}, {keyward.Field{Name: "b", Value: "x"}, 1},
		{keyward.Field{Name: "e", Value: "5"}, 0}, {keyward.Field{Name: "d", Value: "4"}, 1}} {
		var n int
		err := s.View(ctx, func(tx keyward.Tx) error {
			ds, err := tx.Docs().ListDocs(ctx, keyward.DocQuery{Kind: "widget", Scope: sc, Where: []keyward.Field{c.where}})
			n = len(ds)
			return err
		})
		if err != nil || n != c.want {
			t.Errorf("widget where %+v: %d documents, %v; want %d", c.where, n, err, c.want)
		}
	}
}
