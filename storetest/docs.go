package storetest

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"keyward"
)

// The generic layer, tested once for every kind: keyward.DocTx directly,
// and keyward.Kind through a kind that exists only here (a new kind is a
// declaration and nothing else).

// widget and part are kinds of this suite's own: a widget holds parts
// (Cascade: deleting a part drops it from its widgets) and may pin one
// part (Restrict: a pinned part cannot be deleted).
type widget struct {
	Scope   keyward.Scope `json:"scope"`
	ID      string        `json:"id"`
	Color   string        `json:"color"`
	Size    string        `json:"size"`
	Busy    bool          `json:"busy"`
	PartIDs []string      `json:"-"`
	Pinned  []string      `json:"-"`
}

type part struct {
	Scope     keyward.Scope `json:"scope"`
	ID        string        `json:"id"`
	WidgetIDs []string      `json:"-"` // derived: the widgets holding it
	PinnedBy  []string      `json:"-"`
}

var (
	widgets = &keyward.Kind[widget]{
		Name:    "widget",
		Key:     func(w *widget) (keyward.Scope, string) { return w.Scope, w.ID },
		Settled: func(w *widget) bool { return !w.Busy },
		Index: func(w *widget) []keyward.Field {
			return []keyward.Field{{Name: "color", Value: w.Color}, {Name: "size", Value: w.Size}}
		},
		Refs: func(w *widget) []keyward.Ref {
			var refs []keyward.Ref
			for _, id := range w.PartIDs {
				refs = append(refs, keyward.Ref{Relation: "holds", Kind: "part", ID: id})
			}
			for _, id := range w.Pinned {
				refs = append(refs, keyward.Ref{Relation: "pins", Kind: "part", ID: id, Restrict: true})
			}
			return refs
		},
		Load: func(w *widget, d *keyward.Doc) {
			w.PartIDs = keyward.RefIDs(d.Refs, "holds", "part")
			w.Pinned = keyward.RefIDs(d.Refs, "pins", "part")
		},
	}
	parts = &keyward.Kind[part]{
		Name: "part",
		Key:  func(p *part) (keyward.Scope, string) { return p.Scope, p.ID },
		Load: func(p *part, d *keyward.Doc) {
			p.WidgetIDs = keyward.RefIDs(d.Referrers, "holds", "widget")
			p.PinnedBy = keyward.RefIDs(d.Referrers, "pins", "widget")
		},
	}
)

func createParts(t *testing.T, s keyward.Store, sc keyward.Scope, ids ...string) {
	t.Helper()
	update(t, s, func(tx keyward.Tx) error {
		for _, id := range ids {
			if err := parts.Create(ctx(t), tx, &part{Scope: sc, ID: id}); err != nil {
				return err
			}
		}
		return nil
	})
}

func getWidget(t *testing.T, s keyward.Store, sc keyward.Scope, id string) (w *widget, err error) {
	t.Helper()
	err = s.View(ctx(t), func(tx keyward.Tx) error { w, err = widgets.Get(ctx(t), tx, sc, id); return err })
	return w, err
}

func getPart(t *testing.T, s keyward.Store, sc keyward.Scope, id string) *part {
	t.Helper()
	var p *part
	if err := s.View(ctx(t), func(tx keyward.Tx) (err error) { p, err = parts.Get(ctx(t), tx, sc, id); return err }); err != nil {
		t.Fatal(err)
	}
	return p
}

func findWidgets(t *testing.T, s keyward.Store, q keyward.DocQuery) []string {
	t.Helper()
	var ids []string
	if err := s.View(ctx(t), func(tx keyward.Tx) error {
		ws, err := widgets.Find(ctx(t), tx, q)
		for _, w := range ws {
			ids = append(ids, w.Scope.Region+"/"+w.ID)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func testDocsRoundTrip(t *testing.T, s keyward.Store) {
	createParts(t, s, S1, "p2", "p1", "p3")
	w := &widget{Scope: S1, ID: "w1", Color: "red", Size: "L", Busy: true, PartIDs: []string{"p2", "p1"}, Pinned: []string{"p3"}}
	update(t, s, func(tx keyward.Tx) error { return widgets.Create(ctx(t), tx, w) })
	got, err := getWidget(t, s, S1, "w1")
	if err != nil {
		t.Fatal(err)
	}
	want := *w
	want.PartIDs = []string{"p1", "p2"} // references come back sorted
	diff(t, "widget", &want, got)
	diff(t, "p1 derived", &part{Scope: S1, ID: "p1", WidgetIDs: []string{"w1"}}, getPart(t, s, S1, "p1"))
	diff(t, "p3 derived", &part{Scope: S1, ID: "p3", PinnedBy: []string{"w1"}}, getPart(t, s, S1, "p3"))

	// The raw document as the backend keeps it.
	if err := s.View(ctx(t), func(tx keyward.Tx) error {
		d, err := tx.Docs().GetDoc(ctx(t), "widget", S1, "w1")
		if err != nil {
			return err
		}
		if d.Settled {
			t.Error("busy widget stored settled")
		}
		diff(t, "refs", []keyward.Ref{
			{Relation: "holds", Kind: "part", ID: "p1"}, {Relation: "holds", Kind: "part", ID: "p2"},
			{Relation: "pins", Kind: "part", ID: "p3", Restrict: true},
		}, d.Refs)
		p, err := tx.Docs().GetDoc(ctx(t), "part", S1, "p3")
		if err != nil {
			return err
		}
		diff(t, "referrers", []keyward.Ref{{Relation: "pins", Kind: "widget", ID: "w1", Restrict: true}}, p.Referrers)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testDocsErrors(t *testing.T, s keyward.Store) {
	createParts(t, s, S1, "p1")
	update(t, s, func(tx keyward.Tx) error {
		return widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w1", Color: "red", PartIDs: []string{"p1"}})
	})
	// Each failure is a domain error that leaves the transaction as it
	// was: the same Update goes on and commits its other writes.
	update(t, s, func(tx keyward.Tx) error {
		err := widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w1", Color: "blue"})
		wantError(t, err, keyward.EEXISTS, "widget", "Widget w1 already exists.")
		err = widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w2", PartIDs: []string{"p1", "nope"}})
		wantError(t, err, keyward.ENOTFOUND, "part", "Part nope not found.")
		err = widgets.Update(ctx(t), tx, &widget{Scope: S1, ID: "w9"})
		wantError(t, err, keyward.ENOTFOUND, "widget", "Widget w9 not found.")
		err = widgets.Update(ctx(t), tx, &widget{Scope: S1, ID: "w1", Color: "green", Pinned: []string{"nope"}})
		wantError(t, err, keyward.ENOTFOUND, "part", "Part nope not found.")
		err = widgets.Delete(ctx(t), tx, S1, "w9")
		wantError(t, err, keyward.ENOTFOUND, "widget", "Widget w9 not found.")
		_, err = widgets.Get(ctx(t), tx, S1, "w9")
		wantError(t, err, keyward.ENOTFOUND, "widget", "Widget w9 not found.")
		return parts.Create(ctx(t), tx, &part{Scope: S1, ID: "p2"})
	})
	got, err := getWidget(t, s, S1, "w1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "w1 after failed writes", &widget{Scope: S1, ID: "w1", Color: "red", PartIDs: []string{"p1"}}, got)
	if _, err := getWidget(t, s, S1, "w2"); keyward.ErrorCode(err) != keyward.ENOTFOUND {
		t.Errorf("w2 with a dangling reference was stored: %v", err)
	}
	diff(t, "p1 referrers", []string{"w1"}, getPart(t, s, S1, "p1").WidgetIDs)
	getPart(t, s, S1, "p2") // the Update's own write committed
}

func testDocsUpdateReplaces(t *testing.T, s keyward.Store) {
	createParts(t, s, S1, "p1", "p2", "p3")
	update(t, s, func(tx keyward.Tx) error {
		return widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w1", Color: "red", Size: "S", PartIDs: []string{"p1", "p2"}})
	})
	update(t, s, func(tx keyward.Tx) error {
		return widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w2", Color: "red", PartIDs: []string{"p2"}})
	})
	update(t, s, func(tx keyward.Tx) error {
		return widgets.Update(ctx(t), tx, &widget{Scope: S1, ID: "w1", Color: "blue", Size: "S", PartIDs: []string{"p3"}})
	})
	diff(t, "red", []string{"us-east-1/w2"}, findWidgets(t, s, keyward.DocQuery{Scope: S1, Where: []keyward.Field{{Name: "color", Value: "red"}}}))
	diff(t, "blue", []string{"us-east-1/w1"}, findWidgets(t, s, keyward.DocQuery{Scope: S1, Where: []keyward.Field{{Name: "color", Value: "blue"}}}))
	diff(t, "p1 referrers", []string(nil), getPart(t, s, S1, "p1").WidgetIDs)
	diff(t, "p2 referrers", []string{"w2"}, getPart(t, s, S1, "p2").WidgetIDs)
	diff(t, "p3 referrers", []string{"w1"}, getPart(t, s, S1, "p3").WidgetIDs)

	// Updating the referenced side keeps what points at it.
	update(t, s, func(tx keyward.Tx) error { return parts.Update(ctx(t), tx, &part{Scope: S1, ID: "p2"}) })
	diff(t, "p2 referrers after its update", []string{"w2"}, getPart(t, s, S1, "p2").WidgetIDs)
}

func testDocsDeleteRules(t *testing.T, s keyward.Store) {
	createParts(t, s, S1, "p1", "p2")
	createParts(t, s, S2, "p1")
	update(t, s, func(tx keyward.Tx) error {
		if err := widgets.Create(ctx(t), tx, &widget{Scope: S1, ID: "w1", PartIDs: []string{"p1", "p2"}, Pinned: []string{"p2"}}); err != nil {
			return err
		}
		return widgets.Create(ctx(t), tx, &widget{Scope: S2, ID: "w1", PartIDs: []string{"p1"}})
	})
	// Cascade: the reference goes with its target, on both sides.
	update(t, s, func(tx keyward.Tx) error { return parts.Delete(ctx(t), tx, S1, "p1") })
	w, err := getWidget(t, s, S1, "w1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "w1 parts after p1's deletion", []string{"p2"}, w.PartIDs)
	w, err = getWidget(t, s, S2, "w1")
	if err != nil {
		t.Fatal(err)
	}
	diff(t, "S2 w1 parts", []string{"p1"}, w.PartIDs)

	// Restrict: refused, nothing changed; allowed once released.
	err = s.Update(ctx(t), func(tx keyward.Tx) error { return parts.Delete(ctx(t), tx, S1, "p2") })
	wantError(t, err, keyward.EREFERENCED, "part", "Part p2 is in use by Widget w1.")
	diff(t, "p2 after the refused delete", &part{Scope: S1, ID: "p2", WidgetIDs: []string{"w1"}, PinnedBy: []string{"w1"}}, getPart(t, s, S1, "p2"))
	update(t, s, func(tx keyward.Tx) error { return widgets.Delete(ctx(t), tx, S1, "w1") })
	diff(t, "p2 after w1's deletion", &part{Scope: S1, ID: "p2"}, getPart(t, s, S1, "p2"))
	update(t, s, func(tx keyward.Tx) error { return parts.Delete(ctx(t), tx, S1, "p2") })

	// A new document under a deleted id starts with nothing pointing at it.
	createParts(t, s, S1, "p1")
	diff(t, "recreated p1", &part{Scope: S1, ID: "p1"}, getPart(t, s, S1, "p1"))
}

func testDocsQuery(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for i, c := range []string{"red", "blue", "red", "red", "blue"} {
			size := []string{"S", "L"}[i%2]
			for _, sc := range []keyward.Scope{S1, S2, S3} {
				if err := widgets.Create(ctx(t), tx, &widget{Scope: sc, ID: fmt.Sprintf("w%d", 5-i), Color: c, Size: size}); err != nil {
					return err
				}
			}
		}
		// Another kind with the same ids and fields is never returned.
		return parts.Create(ctx(t), tx, &part{Scope: S1, ID: "w1"})
	})
	in := func(sc keyward.Scope, ids ...string) []string {
		for i := range ids {
			ids[i] = sc.Region + "/" + ids[i]
		}
		return ids
	}
	red := keyward.Field{Name: "color", Value: "red"}
	small := keyward.Field{Name: "size", Value: "S"}
	diff(t, "all", in(S1, "w1", "w2", "w3", "w4", "w5"), findWidgets(t, s, keyward.DocQuery{Scope: S1}))
	diff(t, "id", in(S1, "w3"), findWidgets(t, s, keyward.DocQuery{Scope: S1, ID: "w3"}))
	diff(t, "red", in(S1, "w2", "w3", "w5"), findWidgets(t, s, keyward.DocQuery{Scope: S1, Where: []keyward.Field{red}}))
	diff(t, "red and small", in(S1, "w1", "w3", "w5")[1:], findWidgets(t, s, keyward.DocQuery{Scope: S1, Where: []keyward.Field{red, small}}))
	diff(t, "page 1", in(S1, "w1", "w2"), findWidgets(t, s, keyward.DocQuery{Scope: S1, Limit: 2}))
	diff(t, "page 2", in(S1, "w3", "w4"), findWidgets(t, s, keyward.DocQuery{Scope: S1, AfterID: "w2", Limit: 2}))
	diff(t, "page 3", in(S1, "w5"), findWidgets(t, s, keyward.DocQuery{Scope: S1, AfterID: "w4", Limit: 2}))
	diff(t, "red after w2", in(S1, "w3", "w5"), findWidgets(t, s, keyward.DocQuery{Scope: S1, AfterID: "w2", Where: []keyward.Field{red}}))
	diff(t, "three fields, none match", []string(nil), findWidgets(t, s, keyward.DocQuery{Scope: S1,
		Where: []keyward.Field{red, small, {Name: "color", Value: "blue"}}}))
	all := findWidgets(t, s, keyward.DocQuery{AllScopes: true, ID: "w1"})
	diff(t, "every scope, by account, region, id", []string{"eu-west-1/w1", "us-east-1/w1", "us-east-1/w1"}, all)
	if err := s.View(ctx(t), func(tx keyward.Tx) error {
		for _, c := range []struct {
			sc   keyward.Scope
			kind string
			want int
		}{{S1, "widget", 5}, {S2, "widget", 5}, {S1, "part", 1}, {S2, "part", 0}, {keyward.Scope{Account: "x", Region: "y"}, "widget", 0}} {
			n, err := tx.Docs().CountDocs(ctx(t), c.kind, c.sc)
			if err != nil {
				return err
			}
			if n != c.want {
				t.Errorf("CountDocs(%s, %v) = %d, want %d", c.kind, c.sc, n, c.want)
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func testDocsUnsettled(t *testing.T, s keyward.Store) {
	update(t, s, func(tx keyward.Tx) error {
		for _, w := range []*widget{{Scope: S2, ID: "b", Busy: true}, {Scope: S1, ID: "a", Busy: true}, {Scope: S1, ID: "c"}} {
			if err := widgets.Create(ctx(t), tx, w); err != nil {
				return err
			}
		}
		return parts.Create(ctx(t), tx, &part{Scope: S1, ID: "a"})
	})
	unsettled := func() []keyward.DocKey {
		var keys []keyward.DocKey
		if err := s.View(ctx(t), func(tx keyward.Tx) (err error) { keys, err = tx.Docs().FindUnsettled(ctx(t)); return err }); err != nil {
			t.Fatal(err)
		}
		return keys
	}
	diff(t, "unsettled", []keyward.DocKey{{Kind: "widget", Scope: S2, ID: "b"}, {Kind: "widget", Scope: S1, ID: "a"}}, unsettled())
	update(t, s, func(tx keyward.Tx) error { return widgets.Update(ctx(t), tx, &widget{Scope: S1, ID: "a"}) })
	update(t, s, func(tx keyward.Tx) error { return widgets.Delete(ctx(t), tx, S2, "b") })
	diff(t, "unsettled after settling", []keyward.DocKey(nil), unsettled())
}

// testConcurrentReferences runs many Updates at once that attach and
// detach caches to and from user groups, delete and recreate groups and
// caches, and pin members, each an outcome the rules allow or refuse. At
// every snapshot and at the end: no reference points at nothing, both ends
// of every relation agree, and a group never disappeared from under a
// cache attached to it.
func testConcurrentReferences(t *testing.T, s keyward.Store) {
	const (
		groups     = 3
		caches     = 4
		workers    = 6
		iterations = 15
	)
	groupID := func(g int) string { return fmt.Sprintf("g%d", g) }
	cacheID := func(c int) string { return fmt.Sprintf("c%d", c) }
	createGroups(t, s, S1, groupID(0), groupID(1), groupID(2))

	var wg sync.WaitGroup
	var mu sync.Mutex
	var unexpected []error
	fail := func(err error) {
		mu.Lock()
		unexpected = append(unexpected, err)
		mu.Unlock()
	}
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 9))
			for range iterations {
				g, c := groupID(rng.IntN(groups)), cacheID(rng.IntN(caches))
				op := rng.IntN(5)
				err := s.Update(ctx(t), func(tx keyward.Tx) error {
					switch op {
					case 0: // create a cache attached to g
						return tx.CreateCache(ctx(t), NewCache(S1, keyward.KindReplicationGroup, c, g))
					case 1: // attach or detach g
						cur, err := tx.FindCacheByID(ctx(t), S1, keyward.KindReplicationGroup, c)
						if err != nil {
							return err
						}
						if len(cur.UserGroupIDs) > 0 {
							cur.UserGroupIDs = nil
						} else {
							cur.UserGroupIDs = []string{g}
						}
						return tx.UpdateCache(ctx(t), cur)
					case 2:
						return tx.DeleteCache(ctx(t), S1, keyward.KindReplicationGroup, c)
					case 3:
						return tx.DeleteUserGroup(ctx(t), S1, g)
					default:
						return tx.CreateUserGroup(ctx(t), NewUserGroup(S1, g))
					}
				})
				switch keyward.ErrorCode(err) {
				case keyward.ENOTFOUND, keyward.EEXISTS, keyward.EREFERENCED:
				default:
					if err != nil {
						fail(err)
					}
				}
			}
		})
	}
	check := func() {
		if err := s.View(ctx(t), func(tx keyward.Tx) error {
			cs, err := tx.FindCaches(ctx(t), S1, keyward.KindReplicationGroup, keyward.CacheFilter{})
			if err != nil {
				return err
			}
			gs, err := tx.FindUserGroups(ctx(t), S1, keyward.UserGroupFilter{})
			if err != nil {
				return err
			}
			attachedTo := map[string][]string{}
			for _, c := range cs {
				for _, g := range c.UserGroupIDs {
					attachedTo[g] = append(attachedTo[g], c.ID)
				}
			}
			for _, g := range gs {
				if !slices.Equal(attachedTo[g.ID], g.ReplicationGroups) {
					t.Errorf("group %s lists caches %q, the caches say %q", g.ID, g.ReplicationGroups, attachedTo[g.ID])
				}
				delete(attachedTo, g.ID)
			}
			for g, cs := range attachedTo {
				t.Errorf("caches %q attached to group %s, which does not exist", cs, g)
			}
			return nil
		}); err != nil {
			t.Error(err)
		}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			check()
		}
	}()
	wg.Wait()
	<-done
	check()
	for _, err := range unexpected {
		t.Errorf("unexpected error: %v", err)
	}
}
